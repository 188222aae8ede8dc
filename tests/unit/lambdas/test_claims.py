"""Issue 18 item 2: a lease or a keep-warm window that arrives between the reconciler's read and its
writes stops the sleep, and a ``sleeping`` model is re-checked for them before DeleteEndpoint.

Leases are written to the state item by the invoker (``POST /wake {"keep_warm_minutes"}``); the tests
write one from a hook on the reconciler's own client, right before its write reaches DynamoDB.
Windows come from config, so "arriving" is the clock entering one: the clock here moves at each
reading. (Queued jobs, the third hold, are tested with the job store in test_jobs.py.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from lambdas_testkit import REGION, START, TABLE
from seqserve_common.lifecycle import coalescing_seconds

ENDPOINT = "circrna-endpoint"
IDLE = 15 * 60
# Long idle: every write below would put the model down but for the lease or the window.
LAST_USE = START - 2 * 3600
WINDOW = {"days": "daily", "from": "09:00", "to": "17:00", "tz": "UTC"}
# The window's warm lead (10 minutes) starts at 08:50 UTC; START is 08:00 UTC.
LEAD_START = START + 3000


@pytest.fixture
def environ(environ):
    models = json.loads(environ["MODELS"])
    models["circrna"].update(keep_warm=[WINDOW], warm_lead_minutes=10, max_lease_minutes=120)
    return {**environ, "MODELS": json.dumps(models)}


def idle_model(aws, *, state: str = "awake") -> None:
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state=state, state_changed_at=LAST_USE, last_invoked_at=LAST_USE)


def lease(aws, until: float) -> None:
    """What ``POST /wake {"keep_warm_minutes"}`` writes (invoker/operator_routes.py set_lease)."""
    aws.dynamodb.update_item(
        TableName=TABLE,
        Key={"model": {"S": "circrna"}},
        UpdateExpression="SET lease_until = :until",
        ExpressionAttributeValues={":until": {"N": repr(until)}},
    )


def before_write(marker: str, action: Callable[[], None]) -> Any:
    """A DynamoDB client that runs ``action`` once, right before its first UpdateItem containing
    ``marker`` is sent: as if another caller wrote between the reconciler's read and that write."""
    client = boto3.client("dynamodb", region_name=REGION)
    done: list[bool] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        if not done and marker in params.get("UpdateExpression", ""):
            done.append(True)
            action()

    client.meta.events.register("provide-client-params.dynamodb.UpdateItem", hook)
    return client


def test_a_lease_set_between_the_read_and_the_move_to_sleeping_keeps_it_up(aws, make_checker, clock):
    idle_model(aws)
    client = before_write("#state = :to", lambda: lease(aws, clock.now + 600))
    assert make_checker(dynamodb=client).run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)
    assert aws.state_of("circrna") == "awake"


def test_a_lease_set_between_the_move_and_the_delete_claim_stops_the_delete(aws, make_checker, clock):
    idle_model(aws)
    client = before_write("delete_requested_at", lambda: lease(aws, clock.now + 600))
    checker = make_checker(dynamodb=client)
    assert checker.run()["circrna"] == "sleeping"
    assert aws.endpoint_exists(ENDPOINT)
    # The next run re-checks the sleeping model before deleting: leased, so it serves again.
    clock.advance(60)
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)


class SteppingClock:
    """A clock that moves ``step`` seconds at every reading: time passes between read and claim."""

    def __init__(self, now: float, step: float) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> float:
        now = self.now
        self.now += self.step
        return now


def test_a_window_entered_between_the_read_and_the_claim_keeps_it_up(aws, environ):
    from aws_lambda_powertools import Logger
    from idle_checker.checker import IdleChecker
    from seqserve_common.settings import parse_settings

    idle_model(aws)
    # Readings: 08:49:30 (the minutes-awake mark), 08:49:50 (the read: idle, no window), 08:50:10 (the
    # claim: inside the window's warm lead).
    clock = SteppingClock(LEAD_START - 30, step=20)
    checker = IdleChecker(
        settings=parse_settings(environ),
        sagemaker=aws.sagemaker,
        dynamodb=aws.dynamodb,
        sns=aws.sns,
        clock=clock,
        logger=Logger(),
    )
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)
    assert aws.state_of("circrna") == "awake"


@pytest.mark.parametrize(
    ("hold", "now"),
    [
        pytest.param("lease", START, id="lease"),
        pytest.param(None, LEAD_START, id="window-lead"),
        pytest.param(None, START + 2 * 3600, id="window"),
    ],
)
def test_a_sleeping_model_held_again_goes_back_to_awake_instead_of_being_deleted(
    aws, checker, clock, hold, now
):
    """The delete of a ``sleeping`` model failed or has not run yet, and a lease or window holds it."""
    idle_model(aws, state="sleeping")
    clock.now = now
    if hold == "lease":
        lease(aws, now + 600)
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)


def test_a_sleeping_model_nothing_holds_is_still_deleted(aws, checker, clock):
    idle_model(aws, state="sleeping")
    lease(aws, START - 1)  # ran out before now
    clock.now = START + IDLE + coalescing_seconds(15)
    assert checker.run()["circrna"] == "sleeping"
    assert not aws.endpoint_exists(ENDPOINT)


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param({"open_jobs": {"S": "not a set"}}, id="holds-not-a-set"),
        pytest.param({"open_jobs": {"SS": ["not a hold"]}}, id="no-valid-hold"),
        pytest.param({"lease_until": {"S": "tomorrow"}}, id="lease-not-a-number"),
    ],
)
def test_corrupt_holds_do_not_keep_an_idle_model_up_forever(aws, make_checker, clock, attributes):
    """The claim types the lease and the holds as the reader does: what is not one holds nothing.
    (The lease case is read through a stubbed get, as parsing a corrupt item is another item's work.)"""
    idle_model(aws)
    item = {**aws.item("circrna"), **attributes}
    aws.dynamodb.put_item(TableName=TABLE, Item=item)
    checker = make_checker()
    if "lease_until" in attributes:
        from seqserve_common.state import parse_item

        clean = {k: v for k, v in item.items() if k != "lease_until"}
        checker._store.get = lambda model: parse_item(model, clean)
    assert checker.run()["circrna"] == "sleeping"
    assert not aws.endpoint_exists(ENDPOINT)
