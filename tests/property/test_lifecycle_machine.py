"""Invariants 1-9 of DESIGN.md ("Endpoint lifecycle"), checked after every step of random runs of the
real invoker and reconciler code against the embedded AWS (local.aws.MotoServer) with a controlled clock.

What is simulated, and how (the Lambda code runs unchanged):
- SageMaker's timings: CreateEndpoint leaves the endpoint ``Creating`` until a progression step, at
  least CREATE_SECONDS later, makes it InService, Failed or OutOfService; DeleteEndpoint leaves it
  ``Deleting`` until a progression step, at least DELETE_SECONDS later, removes it. The test sets the
  status in moto's backend, where DescribeEndpoint reads it.
- Faults: botocore event hooks on the Lambdas' clients make an armed call fail before it reaches AWS
  (throttling, a 5xx, a timeout) or after it took effect (a lost answer: the change is made, the
  caller gets a read timeout). The runtime's throttling and access-denied answers come from the
  FakeRuntime of the unit tests.

Write-coalescing slack (seqserve_common.lifecycle): the invoker records ``last_invoked_at`` when a
request starts and when it is answered, each at most once per coalescing interval per container, so
the stored value lags a served request by less than that interval; the reconciler adds the interval
to ``idle_minutes``. Invariants 3 and 7 are therefore checked exactly (no delete within
``idle_minutes`` of a served request), for every served request whose recording was not failed by an
injected DynamoDB fault (a failed record never fails the prediction, invariant 4, and is the one
thing that can shorten an endpoint's life; the next request retries it).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from moto.sagemaker.models import sagemaker_backends

from local.aws import ACCOUNT_ID, CREDENTIALS, REGION, MotoServer
from local.sagemaker_timing import EndpointTimes

pytestmark = pytest.mark.slow

MODEL = "circrna"
PREFIX = "seqserve-"
ENDPOINT = "seqserve-service-circrna"
UNTRACKED = "seqserve-service-removed"
# This deployment's own endpoints carry its tag (seqserve_common.ownership); the untracked one is its own.
DEPLOYMENT = "seqserve-service"
OWN_TAGS = [{"Key": "seqserve:deployment", "Value": DEPLOYMENT}]
CONFIG = "seqserve-service-circrna-config"
TABLE = "seqserve-state"
IDLE_MINUTES = 15
MAX_WAKE_MINUTES = 30
CHECK_PERIOD = 300.0
CREATE_SECONDS = 240.0
DELETE_SECONDS = 60.0
START = 1_800_000_000.0
BAD = {"Failed", "OutOfService"}
ALLOWED_STATUSES = {200, 202, 400, 404, 409, 413, 429, 502, 503, 504}
FAULT_KINDS = ("throttle", "error", "timeout", "lost")
FAULT_OPERATIONS = (
    "sagemaker.CreateEndpoint",
    "sagemaker.DeleteEndpoint",
    "sagemaker.DescribeEndpoint",
    "sagemaker.ListEndpoints",
    "dynamodb.UpdateItem",
    "dynamodb.GetItem",
)
STATS: Counter[str] = Counter()
FINDINGS: list[dict[str, Any]] = []


class FakeHttp:
    status_code = 200


class World:
    """Everything outside the Lambda code: the server, the clock, faults, SageMaker's timings."""

    def __init__(self) -> None:
        # Instant endpoints in the embedded AWS: this machine plays SageMaker's timings on its own clock.
        self.server = MotoServer(endpoint_times=EndpointTimes(create_seconds=0, delete_seconds=0))
        self.server.start()
        self.lock = threading.Lock()
        self.now = START
        self.armed: dict[str, list[str]] = {}
        self.fired: list[str] = []
        self.creates = 0
        self.created_at: dict[str, float] = {}
        self.deleting_since: dict[str, float] = {}
        self.in_request = threading.local()
        self.served: list[float] = []
        self.violations: list[str] = []
        self.observer = {s: self.client(s) for s in ("sagemaker", "dynamodb", "sns")}
        self.lambda_clients = {
            name: self.hooked(self.client(service))
            for name, service in (
                ("invoker_sagemaker", "sagemaker"),
                ("invoker_dynamodb", "dynamodb"),
                ("record_dynamodb", "dynamodb"),
                ("checker_sagemaker", "sagemaker"),
                ("checker_dynamodb", "dynamodb"),
            )
        }

    def clock(self) -> float:
        return self.now

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.server.url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )

    @property
    def endpoints(self) -> dict[str, Any]:
        return sagemaker_backends[ACCOUNT_ID][REGION].endpoints

    def status(self, name: str = ENDPOINT) -> str | None:
        endpoint = self.endpoints.get(name)
        return None if endpoint is None else endpoint.endpoint_status

    # -- hooks on the Lambdas' clients ------------------------------------------------------------

    def hooked(self, client: Any) -> Any:
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        events.register_first(f"before-call.{service}", self._fail_before)
        events.register_first(f"after-call.{service}", self._fail_after)
        if service == "sagemaker":
            events.register_first("after-call.sagemaker.CreateEndpoint", self._created)
            events.register("before-call.sagemaker.DeleteEndpoint", self._start_delete)
        return client

    def _take(self, operation: str, kinds: tuple[str, ...]) -> str | None:
        with self.lock:
            queue = self.armed.get(operation, [])
            if queue and queue[0] in kinds:
                kind = queue.pop(0)
                self.fired.append(f"{operation}:{kind}")
                return kind
        return None

    def _fail_before(self, model: Any, **_: Any) -> None:
        operation = f"{model.service_model.service_id.hyphenize()}.{model.name}"
        kind = self._take(operation, ("throttle", "error", "timeout"))
        if kind == "timeout":
            raise ReadTimeoutError(endpoint_url=self.server.url)
        if kind is not None:
            code = {"throttle": "ThrottlingException", "error": "InternalFailure"}[kind]
            if operation.startswith("dynamodb") and kind == "throttle":
                code = "ProvisionedThroughputExceededException"
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, model.name)

    def _fail_after(self, model: Any, **_: Any) -> None:
        if self._take(f"{model.service_model.service_id.hyphenize()}.{model.name}", ("lost",)):
            raise ReadTimeoutError(endpoint_url=self.server.url)

    def _created(self, http_response: Any, params: dict[str, Any] | None = None, **_: Any) -> None:
        if http_response.status_code != 200:
            return
        with self.lock:
            self.creates += 1
            for name, endpoint in self.endpoints.items():
                if name not in self.created_at and endpoint.endpoint_status == "InService":
                    endpoint.endpoint_status = "Creating"
                    self.created_at[name] = self.now

    def _start_delete(self, params: dict[str, Any], **_: Any) -> Any:
        # before-call gets the serialized request: the JSON body holds the endpoint name.
        name = json.loads(params["body"])["EndpointName"]
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            return None  # moto answers "Could not find endpoint"
        if endpoint.endpoint_status != "Deleting":
            self._check_no_wrongful_delete(name, endpoint.endpoint_status)
            endpoint.endpoint_status = "Deleting"
            self.deleting_since[name] = self.now
        return FakeHttp(), {}

    def _check_no_wrongful_delete(self, name: str, status: str) -> None:
        """Invariants 3 and 7: never within idle_minutes of a request it served (and recorded)."""
        if name != ENDPOINT or status in BAD or not self.served:
            return
        last = max(self.served)
        if self.now < last + IDLE_MINUTES * 60:
            self.violations.append(
                f"7: {name} ({status}) deleted at +{self.now - START:.0f}s, "
                f"{self.now - last:.0f}s after a request it served"
            )

    # -- SageMaker's own progress -----------------------------------------------------------------

    def progress(self, outcome: str) -> None:
        for name, endpoint in list(self.endpoints.items()):
            if endpoint.endpoint_status == "Creating" and self.now - self.created_at[name] >= CREATE_SECONDS:
                endpoint.endpoint_status = outcome
            elif (
                endpoint.endpoint_status == "Deleting"
                and self.now - self.deleting_since[name] >= DELETE_SECONDS
            ):
                del self.endpoints[name]
                self.created_at.pop(name, None)
                self.deleting_since.pop(name, None)

    def reset(self) -> None:
        httpx.post(f"{self.server.url}/moto-api/reset", timeout=10).raise_for_status()
        self.now = START
        self.armed.clear()
        self.fired.clear()
        self.creates = 0
        self.created_at.clear()
        self.deleting_since.clear()
        self.served.clear()
        self.violations.clear()
        dynamodb, sagemaker = self.observer["dynamodb"], self.observer["sagemaker"]
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "model", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sagemaker.create_model(
            ModelName=CONFIG,
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker",
            PrimaryContainer={"Image": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/seqserve:latest"},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=CONFIG,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": CONFIG,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )

    def item(self) -> dict[str, Any]:
        return (
            self.observer["dynamodb"]
            .get_item(TableName=TABLE, Key={"model": {"S": MODEL}}, ConsistentRead=True)
            .get("Item", {})
        )


@pytest.fixture(scope="module")
def world(monkeypatch_module: pytest.MonkeyPatch) -> Any:
    built = World()
    yield built
    built.server.stop()
    if os.environ.get("SEQSERVE_HYPOTHESIS_PROFILE") == "chaos":
        summary = {"steps": dict(STATS), "findings": FINDINGS}
        print("\nCHAOS " + json.dumps(summary, sort_keys=True))


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    patch = pytest.MonkeyPatch()
    for key, value in {
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "seqserve-property",
        "POWERTOOLS_METRICS_NAMESPACE": "seqserve",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    }.items():
        patch.setenv(key, value)
    yield patch
    patch.undo()


def lambdas(world: World) -> tuple[list[Any], Any, Any]:
    from aws_lambda_powertools import Logger
    from idle_checker.checker import IdleChecker
    from invoker.app import build_app
    from lambdas_testkit import FakeRuntime
    from seqserve_common.settings import parse_settings

    topic = world.observer["sns"].create_topic(Name="seqserve-lifecycle")["TopicArn"]
    settings = parse_settings(
        {
            "STATE_TABLE": TABLE,
            "ENDPOINT_PREFIX": PREFIX,
            "DEPLOYMENT_NAME": DEPLOYMENT,
            "NOTIFY_TOPIC_ARN": topic,
            "MODELS": json.dumps(
                {
                    MODEL: {
                        "preset": "circrna",
                        "mode": "on_demand",
                        "endpoint_name": ENDPOINT,
                        "endpoint_config_name": CONFIG,
                        "idle_minutes": IDLE_MINUTES,
                        "max_wake_minutes": MAX_WAKE_MINUTES,
                    }
                }
            ),
        }
    )
    logger = Logger(level="CRITICAL")
    runtime = FakeRuntime(sagemaker=world.observer["sagemaker"], client=boto3.client("sagemaker-runtime"))
    clients = world.lambda_clients
    containers = [
        build_app(
            settings=settings,
            runtime=runtime.client,
            sagemaker=clients["invoker_sagemaker"],
            dynamodb=clients["invoker_dynamodb"],
            record_dynamodb=clients["record_dynamodb"],
            clock=world.clock,
            logger=logger,
        )
        for _ in range(3)
    ]
    checker = IdleChecker(
        settings=settings,
        sagemaker=clients["checker_sagemaker"],
        dynamodb=clients["checker_dynamodb"],
        sns=world.observer["sns"],
        clock=world.clock,
        logger=logger,
    )
    return containers, checker, runtime


def run_machine(world: World) -> None:
    from lambdas_testkit import call, http_response

    class Lifecycle(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            world.reset()
            self.containers, self.checker, self.runtime = lambdas(world)
            self.last_invoked_at = 0.0
            STATS["examples"] += 1

        # -- clients ------------------------------------------------------------------------------

        def _request(self, container: int, route: str) -> Any:
            before = world.status()
            fired = len(world.fired)
            path = f"/models/{MODEL}/{route}"
            body = json.dumps({"inputs": "ACGUACGUAC"}) if route == "predict" else None
            answer = call(self.containers[container], "POST", path, body)
            note(f"{route} via {container} at +{world.now - START:.0f}s -> {answer.status} {answer.body}")
            self._check_answer(answer)
            record_faults = [f for f in world.fired[fired:] if f.startswith("dynamodb.UpdateItem")]
            if route == "predict" and answer.status in (200, 429, 504) and not record_faults:
                world.served.append(world.now)
            if route == "predict" and before == "InService" and self.runtime.fault is None:
                # Invariant 4: the endpoint serves, whatever happens to the state writes.
                assert answer.status == 200, f"4: {answer.status} from an InService endpoint"
            return answer

        def _check_answer(self, answer: Any) -> None:
            # Invariant 9.
            assert answer.status in ALLOWED_STATUSES, f"9: status {answer.status}: {answer.body}"
            if answer.status in (202, 503):
                assert int(answer.headers.get("retry-after", "0")) > 0, "9: no Retry-After while waking"

        @rule(container=st.integers(0, 2))
        def predict(self, container: int) -> None:
            STATS["predict"] += 1
            self._request(container, "predict")

        @rule(container=st.integers(0, 2))
        def wake(self, container: int) -> None:
            STATS["wake"] += 1
            self._request(container, "wake")

        @rule(code=st.sampled_from(["ThrottlingException", "AccessDeniedException"]))
        def runtime_refuses(self, code: str) -> None:
            """Invariant 5: SageMaker throttling or denying is never taken for a missing endpoint."""
            STATS["runtime_refuses"] += 1
            creates = world.creates
            self.runtime.fault = http_response(400, {"message": code}, error_type=code)
            try:
                answer = self._request(0, "predict")
            finally:
                self.runtime.fault = None
            assert answer.status in (429, 502), f"5: {code} answered {answer.status}"
            assert world.creates == creates, f"5: {code} created an endpoint"

        @rule(count=st.integers(2, 3))
        def concurrent_predicts(self, count: int) -> None:
            """Invariant 1: concurrent wakes create the endpoint once."""
            STATS["concurrent_predicts"] += 1
            creates = world.creates
            answers: list[Any] = []
            threads = [
                threading.Thread(
                    target=lambda i=i: answers.append(
                        call(self.containers[i], "POST", f"/models/{MODEL}/predict", '{"inputs": "ACGU"}')
                    )
                )
                for i in range(count)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for answer in answers:
                self._check_answer(answer)
                if answer.status == 200:
                    world.served.append(world.now)
            assert world.creates - creates <= 1, f"1: {world.creates - creates} creates by concurrent wakes"

        @rule()
        def predict_during_check(self) -> None:
            """A request in flight while the reconciler decides (issue 9, defect 3)."""
            STATS["predict_during_check"] += 1
            answer_before = self.runtime.answer

            def check_inside(body: bytes) -> Any:
                self._check()
                return answer_before(body)

            self.runtime.answer = check_inside
            try:
                self._request(1, "predict")
            finally:
                self.runtime.answer = answer_before

        # -- the schedule, SageMaker and faults ---------------------------------------------------

        def _check(self) -> dict[str, str]:
            fired = len(world.fired)
            results = self.checker.run()
            note(f"check at +{world.now - START:.0f}s -> {results}; endpoint {world.status()}")
            if len(world.fired) == fired:
                self._check_settled()
            return results

        def _check_settled(self) -> None:
            """After a run no fault disturbed, each state agrees with the endpoint (invariant 8)."""
            item = world.item()
            state = item.get("state", {}).get("S", "asleep")
            status = world.status()
            changed = float(item.get("state_changed_at", {}).get("N", START))
            if state == "waking":
                assert world.now - changed <= MAX_WAKE_MINUTES * 60, "8: waking past max_wake_minutes"
                assert status not in BAD, f"8: waking with a {status} endpoint after a clean run"
            elif state == "sleeping":
                assert status == "Deleting", f"8: sleeping with endpoint {status} after a clean run"
            elif state == "awake":
                assert status in {"InService", "Creating", "Updating"}, f"8: awake with endpoint {status}"
            elif state in {"asleep", "failed"}:
                assert status in {None, "Deleting"}, f"{state} with endpoint {status} after a clean run"

        @rule()
        def check(self) -> None:
            STATS["check"] += 1
            self._check()

        @rule()
        def duplicate_delivery(self) -> None:
            STATS["duplicate_delivery"] += 1
            self._check()
            self._check()

        @rule(seconds=st.sampled_from([1, 20, 60, 120, 300, 600, 1200]))
        def time_passes(self, seconds: int) -> None:
            STATS["time_passes"] += 1
            world.now += seconds

        @rule(outcome=st.sampled_from(["InService", "InService", "InService", "Failed", "OutOfService"]))
        def sagemaker_progresses(self, outcome: str) -> None:
            STATS["sagemaker_progresses"] += 1
            world.progress(outcome)

        @precondition(lambda self: world.status() == "InService")
        @rule()
        def endpoint_goes_out_of_service(self) -> None:
            STATS["endpoint_goes_out_of_service"] += 1
            world.endpoints[ENDPOINT].endpoint_status = "OutOfService"

        @precondition(lambda self: UNTRACKED not in world.endpoints)
        @rule()
        def untracked_endpoint_appears(self) -> None:
            STATS["untracked_endpoint_appears"] += 1
            world.observer["sagemaker"].create_endpoint(
                EndpointName=UNTRACKED, EndpointConfigName=CONFIG, Tags=OWN_TAGS
            )

        @rule(
            operation=st.sampled_from(FAULT_OPERATIONS),
            kind=st.sampled_from(FAULT_KINDS),
            count=st.integers(1, 3),
        )
        def arm_fault(self, operation: str, kind: str, count: int) -> None:
            STATS["arm_fault"] += 1
            with world.lock:
                world.armed.setdefault(operation, []).extend([kind] * count)

        def teardown(self) -> None:
            """Invariant 6 (no leak) and 8: with faults gone and no requests, everything winds down."""
            if not hasattr(self, "containers"):
                return
            STATS["faults_stop_and_everything_idles"] += 1
            with world.lock:
                world.armed.clear()
            start = world.now
            bound = (MAX_WAKE_MINUTES + IDLE_MINUTES) * 60 + 60 + 3 * CHECK_PERIOD + DELETE_SECONDS
            while world.now - start < bound:
                world.now += CHECK_PERIOD
                world.progress("InService")
                self._check()
            leaked = {name: e.endpoint_status for name, e in world.endpoints.items()}
            assert not leaked, f"6: endpoints left {bound:.0f}s after the last request: {leaked}"
            state = world.item().get("state", {}).get("S", "asleep")
            assert state in {"asleep", "failed"}, f"6/8: state {state} after everything idled"

        # -- after every step ---------------------------------------------------------------------

        @invariant()
        def last_invoked_at_never_moves_backwards(self) -> None:
            if not hasattr(self, "containers"):
                return
            stored = float(world.item().get("last_invoked_at", {}).get("N", 0))
            assert stored >= self.last_invoked_at, f"2: last_invoked_at {stored} < {self.last_invoked_at}"
            self.last_invoked_at = stored

        @invariant()
        def no_wrongful_delete(self) -> None:
            assert not world.violations, world.violations

    try:
        run_state_machine_as_test(Lifecycle)  # with the loaded profile (conftest.py)
    except AssertionError as failure:
        FINDINGS.append({"finding": str(failure).splitlines()[0]})
        raise


def test_lifecycle_invariants_hold_under_faults_and_sagemaker_timings(world: World) -> None:
    run_machine(world)
