"""Operator features on the real invoker and reconciler code (moto): leases, sleep now, keep-warm
windows holding and waking a model, and what /status says about why and until when.

The clock starts at 2027-01-15 08:00 UTC (a Friday); circrna gets a daily 09:00-17:00 UTC window.
"""

from __future__ import annotations

import json

import pytest
from lambdas_testkit import START, call
from seqserve_common.lifecycle import coalescing_seconds

ENDPOINT = "circrna-endpoint"
IDLE = 15 * 60
WINDOW = {"days": "daily", "from": "09:00", "to": "17:00", "tz": "UTC"}
WINDOW_START = START + 3600
WINDOW_END = START + 9 * 3600


@pytest.fixture
def environ(environ):
    models = json.loads(environ["MODELS"])
    models["circrna"].update(keep_warm=[WINDOW], warm_lead_minutes=10, max_lease_minutes=120)
    return {**environ, "MODELS": json.dumps(models)}


def awake(aws, *, at: float = START) -> None:
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=at, last_invoked_at=at)


def test_wake_with_keep_warm_minutes_stores_a_lease(aws, invoker, clock):
    answer = call(invoker, "POST", "/models/circrna/wake", json.dumps({"keep_warm_minutes": 90}))
    assert answer.status == 202
    assert answer.body["lease_until"] == START + 90 * 60
    assert float(aws.item("circrna")["lease_until"]["N"]) == START + 90 * 60
    assert aws.created == [ENDPOINT]


def test_wake_with_lease_minutes_stores_a_lease(aws, invoker, clock):
    """Issue 22, item 6: a lease is called a lease in the API (keep_warm is the config's windows)."""
    answer = call(invoker, "POST", "/models/circrna/wake", json.dumps({"lease_minutes": 30}))
    assert answer.status == 202
    assert answer.body["lease_until"] == START + 30 * 60
    assert float(aws.item("circrna")["lease_until"]["N"]) == START + 30 * 60


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"lease_minutes": 0}, "lease_minutes must be an integer from 1 to 120"),
        ({"lease": 5}, "wake body has unknown field lease; allowed: lease_minutes"),
        (
            {"lease_minutes": 5, "keep_warm_minutes": 5},
            "wake body gives both lease_minutes and its old name keep_warm_minutes",
        ),
        ({"keep_warm_minutes": 0}, "keep_warm_minutes must be an integer from 1 to 120"),
        ({"keep_warm_minutes": 121}, "keep_warm_minutes must be an integer from 1 to 120"),
        (
            {"keep_warm_minutes": "2h"},
            'keep_warm_minutes must be an integer from 1 to 120 (serving.max_lease_minutes), got "2h"',
        ),
        ({"keep_warm": 5}, "wake body has unknown field keep_warm"),
        ([5], "wake body must be an object"),
    ],
)
def test_a_bad_lease_is_refused_naming_it_and_wakes_nothing(aws, invoker, body, message):
    answer = call(invoker, "POST", "/models/circrna/wake", json.dumps(body))
    assert answer.status == 400
    assert answer.body["error"]["message"].startswith(message)
    assert aws.created == [] and "lease_until" not in aws.item("circrna")


def test_a_lease_keeps_an_idle_model_up_until_it_ends(aws, invoker, checker, clock):
    awake(aws)
    call(invoker, "POST", "/models/circrna/wake", json.dumps({"keep_warm_minutes": 40}))
    clock.advance(IDLE + coalescing_seconds(15) + 60)
    status = call(invoker, "GET", "/models/circrna/status").body
    assert status["up_reasons"] == ["lease"]
    assert status["next_down_at"] == START + 40 * 60
    assert checker.run()["circrna"] == "awake"
    clock.advance(25 * 60)
    assert checker.run()["circrna"] == "sleeping"


def test_delete_lease_ends_it(aws, invoker, checker, clock):
    awake(aws)
    call(invoker, "POST", "/models/circrna/wake", json.dumps({"keep_warm_minutes": 60}))
    answer = call(invoker, "DELETE", "/models/circrna/lease")
    assert (answer.status, answer.body) == (200, {"model": "circrna", "lease_until": None})
    assert "lease_until" not in aws.item("circrna")
    clock.advance(IDLE + coalescing_seconds(15) + 1)
    assert checker.run()["circrna"] == "sleeping"


def test_sleep_puts_an_awake_model_down_now_and_ends_its_lease(aws, invoker, clock):
    awake(aws)
    call(invoker, "POST", "/models/circrna/wake", json.dumps({"keep_warm_minutes": 60}))
    answer = call(invoker, "POST", "/models/circrna/sleep")
    assert (answer.status, answer.body) == (202, {"model": "circrna", "state": "sleeping"})
    assert aws.state_of("circrna") == "sleeping"
    assert not aws.endpoint_exists(ENDPOINT)
    assert "lease_until" not in aws.item("circrna")


def test_sleep_is_refused_inside_a_window_naming_it(aws, invoker, clock):
    awake(aws)
    clock.advance(2 * 3600)
    answer = call(invoker, "POST", "/models/circrna/sleep")
    assert answer.status == 409
    assert answer.body["error"]["code"] == "held_by_window"
    assert "daily 09:00-17:00 UTC until 2027-01-15T17:00:00Z" in answer.body["error"]["message"]
    assert aws.state_of("circrna") == "awake" and aws.endpoint_exists(ENDPOINT)


def test_sleep_is_refused_in_the_warm_lead_too(aws, invoker, clock):
    awake(aws)
    clock.advance(3600 - 600)
    assert call(invoker, "POST", "/models/circrna/sleep").status == 409


def test_sleep_on_an_asleep_model_changes_nothing(aws, invoker):
    answer = call(invoker, "POST", "/models/circrna/sleep")
    assert (answer.status, answer.body["state"]) == (200, "asleep")


def test_sleep_on_a_model_that_does_not_sleep_is_refused(aws, invoker):
    answer = call(invoker, "POST", "/models/medical/sleep")
    assert answer.status == 409 and answer.body["error"]["code"] == "not_on_demand"


def test_wrong_methods_on_the_new_routes_are_405(aws, invoker):
    assert call(invoker, "GET", "/models/circrna/sleep").status == 405
    assert call(invoker, "POST", "/models/circrna/lease").headers["allow"] == "DELETE"


def test_the_reconciler_wakes_a_model_warm_lead_minutes_before_its_window(aws, checker, clock):
    clock.advance(3600 - 601)
    assert checker.run()["circrna"] == "asleep"
    assert aws.created == []
    clock.advance(1)
    assert checker.run()["circrna"] == "waking"
    assert aws.created == [ENDPOINT]


def test_a_window_holds_an_idle_model_and_lets_go_at_its_end(aws, checker, clock):
    awake(aws, at=WINDOW_START)
    clock.now = WINDOW_END - 1
    assert checker.run()["circrna"] == "awake"
    clock.now = WINDOW_END
    assert checker.run()["circrna"] == "sleeping"


def test_status_says_why_and_until_when(aws, invoker, clock):
    awake(aws)
    status = call(invoker, "GET", "/models/circrna/status").body
    traffic_end = START + IDLE + coalescing_seconds(15)
    assert status["up_reasons"] == ["traffic"]
    assert status["keep_warm"] == ["daily 09:00-17:00 UTC"]
    assert status["next_down_at"] == traffic_end
    # Down at 08:16; the window then brings it up again at 08:50, ten minutes before it starts.
    assert status["next_up_at"] == WINDOW_START - 600
    clock.now = WINDOW_START + 60
    status = call(invoker, "GET", "/models/circrna/status").body
    assert status["up_reasons"] == ["window"]
    assert status["window"] == {"window": "daily 09:00-17:00 UTC", "until": WINDOW_END}
    assert status["next_down_at"] == WINDOW_END
    assert status["next_up_at"] == WINDOW_START + 24 * 3600 - 600


def test_status_of_an_asleep_model_says_when_it_comes_up(aws, invoker, clock):
    status = call(invoker, "GET", "/models/circrna/status").body
    assert (status["state"], status["up_reasons"], status["next_down_at"]) == ("asleep", [], None)
    assert status["next_up_at"] == WINDOW_START - 600


def test_an_asleep_model_with_a_running_lease_is_woken(aws, checker, clock):
    aws.put_state("circrna", state="asleep", state_changed_at=START - 60, lease_until=START + 600)
    assert checker.run()["circrna"] == "waking"
    assert aws.created == [ENDPOINT]
