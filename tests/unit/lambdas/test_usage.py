"""Usage history and GET /models/{m}/usage: transitions and requests recorded by the real Lambdas,
reported per UTC day, with cost only when serving.hourly_price is set."""

from __future__ import annotations

import json

import pytest
from lambdas_testkit import START, api_event, call
from seqserve_common.history import Transition
from seqserve_common.lifecycle import State
from seqserve_common.usage import daily_usage, up_intervals

HISTORY = "seqserve-history"
ENDPOINT = "circrna-endpoint"
BODY = json.dumps({"inputs": "ACGUACGU"})
# START is 2027-01-15 08:00 UTC.
DAY = START - 8 * 3600


@pytest.fixture
def environ(environ, aws):
    aws.dynamodb.create_table(
        TableName=HISTORY,
        KeySchema=[
            {"AttributeName": "model", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "model", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    models = json.loads(environ["MODELS"])
    models["circrna"]["hourly_price"] = 0.5
    return {**environ, "HISTORY_TABLE": HISTORY, "MODELS": json.dumps(models)}


def usage(app, query: str | None):
    event = api_event("GET", "/models/circrna/usage")
    if query is not None:
        key, _, value = query.partition("=")
        event["queryStringParameters"] = {key: value}
        event["multiValueQueryStringParameters"] = {key: [value]}
    response = app.resolve(event, None)
    return response["statusCode"], json.loads(response["body"])


def test_a_wake_and_a_sleep_are_reported_with_minutes_requests_and_cost(aws, invoker, checker, clock):
    assert call(invoker, "POST", "/models/circrna/predict", BODY).status == 503  # wakes it
    clock.advance(120)
    assert checker.run()["circrna"] == "awake"  # a 120 s wake
    assert call(invoker, "POST", "/models/circrna/predict", BODY).status == 200
    assert call(invoker, "POST", "/models/circrna/predict", BODY).status == 200
    clock.advance(30 * 60)
    assert checker.run()["circrna"] == "sleeping"
    clock.advance(60)
    assert checker.run()["circrna"] == "asleep"
    clock.advance(3600)
    status, report = usage(invoker, "days=2")
    assert status == 200
    yesterday, today = report["days"]
    assert yesterday == {
        "day": "2027-01-14",
        "minutes_awake": 0.0,
        "wakes": 0,
        "requests": 0,
        "median_wake_seconds": None,
        "cost_awake": 0.0,
        "cost_always_on": 12.0,
        "saved": 12.0,
    }
    up_minutes = (120 + 30 * 60 + 60) / 60
    assert today["day"] == "2027-01-15"
    assert (today["minutes_awake"], today["wakes"], today["requests"]) == (up_minutes, 1, 2)
    assert today["median_wake_seconds"] == 120.0
    hours_today = (clock.now - DAY) / 3600
    assert today["cost_awake"] == round(up_minutes / 60 * 0.5, 4)
    assert today["cost_always_on"] == round(hours_today * 0.5, 4)
    assert report["total"]["requests"] == 2 and report["hourly_price"] == 0.5


def test_without_a_price_usage_is_minutes_only(aws, environ, make_invoker):
    models = json.loads(environ["MODELS"])
    models["circrna"]["hourly_price"] = None
    environ["MODELS"] = json.dumps(models)
    status, report = usage(make_invoker(), None)
    assert status == 200 and len(report["days"]) == 7
    assert "cost_awake" not in report["days"][0] and "saved" not in report["total"]
    assert report["hourly_price"] is None


@pytest.mark.parametrize("query", ["days=0", "days=91", "days=abc", "days=-1", "days="])
def test_bad_days_is_a_400_naming_it(aws, invoker, query):
    status, body = usage(invoker, query)
    assert status == 400
    assert body["error"]["message"].startswith("days must be an integer from 1 to 90")


def test_an_endpoint_up_before_the_range_counts_from_the_range_start():
    transitions = [
        Transition(at=DAY + 3600, from_state=State.AWAKE, to_state=State.SLEEPING),
        Transition(at=DAY + 3660, from_state=State.SLEEPING, to_state=State.ASLEEP),
    ]
    # Awake, then sleeping (the endpoint is still being deleted): up until the move to asleep.
    spans = up_intervals(transitions, since=DAY, now=DAY + 7200, current=State.ASLEEP)
    assert sum(end - start for start, end in spans) == 3660 and spans[0][0] == DAY
    # No transition at all in the range: the current state holds throughout.
    assert up_intervals([], since=DAY, now=DAY + 60, current=State.AWAKE) == [(DAY, DAY + 60)]
    assert up_intervals([], since=DAY, now=DAY + 60, current=State.ASLEEP) == []


def test_an_interval_over_midnight_is_split_between_the_days():
    transitions = [
        Transition(at=DAY - 1800, from_state=State.ASLEEP, to_state=State.WAKING),
        Transition(at=DAY + 1800, from_state=State.SLEEPING, to_state=State.ASLEEP),
    ]
    report = daily_usage(
        transitions=transitions, requests={}, current=State.ASLEEP, days=2, now=DAY + 7200, hourly_price=None
    )
    assert [d["minutes_awake"] for d in report["days"]] == [30.0, 30.0]
    assert [d["wakes"] for d in report["days"]] == [1, 0]


# -- issue 18 item 8: requests are counted without a DynamoDB write per prediction -------------------


def counting_client(*, fail_first: bool = False) -> tuple[object, list[dict]]:
    """A DynamoDB client that records its writes to the history table (and can lose the first)."""
    import boto3
    from botocore.exceptions import ClientError
    from lambdas_testkit import REGION

    client = boto3.client("dynamodb", region_name=REGION)
    writes: list[dict] = []

    def record(params: dict, **_: object) -> None:
        if params.get("TableName") != HISTORY:
            return
        if fail_first and not writes:
            writes.append({"failed": params})
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")
        writes.append(params)

    for operation in ("UpdateItem", "PutItem"):
        client.meta.events.register(f"provide-client-params.dynamodb.{operation}", record)
    return client, writes


def predict(app, clock, times: list[float]) -> None:
    for at in times:
        clock.now = at
        assert call(app, "POST", "/models/circrna/predict", BODY).status == 200


def test_request_counts_add_up_across_containers_and_midnight_with_few_writes(aws, make_invoker, clock):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=START, last_invoked_at=START)
    a_client, a_writes = counting_client()
    b_client, b_writes = counting_client()
    a, b = make_invoker(dynamodb=a_client), make_invoker(dynamodb=b_client)
    predict(a, clock, [START + i for i in range(30)])
    predict(b, clock, [START + i + 0.5 for i in range(20)])
    # 50 predictions in 30 seconds, one coalescing interval (60 s): one write per container.
    assert (len(a_writes), len(b_writes)) == (1, 1)
    midnight = DAY + 86400
    predict(a, clock, [midnight - 10 + i for i in range(5)])  # 2027-01-15 23:59:50 to 23:59:54
    predict(a, clock, [midnight + 30 + i for i in range(3)])  # 2027-01-16, within a's interval
    predict(a, clock, [midnight + 120])
    predict(b, clock, [midnight + 121])
    status, report = usage(b, "days=2")
    assert status == 200
    assert [(d["day"], d["requests"]) for d in report["days"]] == [("2027-01-15", 55), ("2027-01-16", 5)]
    assert report["total"]["requests"] == 60
    # 60 predictions; a wrote at 08:00, 23:59:50 and 00:02 (that one for two days); b at 08:00 and 00:02.
    assert (len(a_writes), len(b_writes)) == (4, 3)


def test_a_failed_count_write_is_kept_for_the_next_one(aws, make_invoker, clock):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=START, last_invoked_at=START)
    client, writes = counting_client(fail_first=True)
    app = make_invoker(dynamodb=client)
    predict(app, clock, [START, START + 1, START + 2])
    assert usage(app, "days=1")[1]["total"]["requests"] == 3
    assert "failed" in writes[0]
