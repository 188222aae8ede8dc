"""Everything outside the Lambda code for the lifecycle model: one AWS account (the embedded moto
server) holding two deployments of seqserve, SageMaker's nine endpoint statuses and their progressions,
a controlled clock with per-function skew, and the record of what the Lambdas did to which endpoint.

Two deployments share the account: ``seqserve`` (endpoint prefix ``seqserve-``) and ``seqserve-dev``
(prefix ``seqserve-dev-``), whose names all start with the first one's prefix. Each has two on-demand
models, its own state, history and jobs tables, topic, bucket and queue, and its own Lambdas: three
warm invoker containers, the reconciler and the job runner, each with the clients its handler module
builds (seqserve_common.clients: the production timeouts and retry modes), pointed at the server
through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from moto.sagemaker.models import sagemaker_backends

from local.aws import ACCOUNT_ID, REGION, MotoServer
from local.sagemaker_timing import EndpointTimes
from tests.property.aws_faults import Faults, hook

OWNER_TAG = "seqserve:deployment"
DYNAMODB_WRITES = ("UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
START = 1_800_000_000.0  # 2027-01-15 08:00 UTC, a Friday
CHECK_PERIOD = 300.0
CREATE_SECONDS = 240.0
DELETE_SECONDS = 60.0
MAX_SKEW = 2.0
CONTAINERS = 3
# SageMaker's endpoint statuses, and the ones whose endpoint answers invocations.
STATUSES = (
    "OutOfService",
    "Creating",
    "Updating",
    "SystemUpdating",
    "RollingBack",
    "InService",
    "Deleting",
    "Failed",
    "UpdateRollbackFailed",
)
SERVING = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"})
# Broken for good: deleting such an endpoint is never wrongful.
BROKEN = frozenset({"Failed", "OutOfService"})
# SageMaker's own moves between statuses (besides Creating -> InService and Deleting -> gone, which the
# server plays on the clock): event -> {from: to}.
TRANSITIONS: dict[str, dict[str, str]] = {
    "creation_fails": {"Creating": "Failed"},
    "update_starts": {"InService": "Updating", "UpdateRollbackFailed": "Updating"},
    "update_succeeds": {"Updating": "InService"},
    "update_fails": {"Updating": "RollingBack"},
    "rollback_succeeds": {"RollingBack": "InService"},
    "rollback_fails": {"RollingBack": "UpdateRollbackFailed"},
    "system_update_starts": {"InService": "SystemUpdating"},
    "system_update_ends": {"SystemUpdating": "InService"},
    "goes_out_of_service": {"InService": "OutOfService"},
}


@dataclass(frozen=True)
class ModelConfig:
    name: str
    endpoint: str
    idle_minutes: int
    max_wake_minutes: int = 30
    keep_warm: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Deployment:
    name: str
    prefix: str
    models: tuple[ModelConfig, ...]

    @property
    def table(self) -> str:
        return f"{self.name}-state"

    @property
    def config(self) -> str:
        return f"{self.name}-config"

    def model(self, name: str) -> ModelConfig:
        return next(m for m in self.models if m.name == name)


# The second deployment's prefix extends the first's (issue 18, defect 1), unless the model is told
# not to generate that yet (tests/property/test_lifecycle_machine.py, DISABLED).
SHARED_PREFIX = "ownership" not in os.environ.get("SEQSERVE_MODEL_DISABLE", "").split(",")
DEPLOYMENTS = (
    Deployment(
        name="seqserve",
        prefix="seqserve-",
        models=(
            ModelConfig(name="circrna", endpoint="seqserve-circrna", idle_minutes=15),
            # A daily window (the model is held up from 08:40 to 09:20 UTC, warm lead 10 minutes).
            ModelConfig(
                name="protein",
                endpoint="seqserve-protein",
                idle_minutes=10,
                keep_warm=({"days": "daily", "from": "08:50", "to": "09:20", "tz": "UTC"},),
            ),
        ),
    ),
    Deployment(
        name="seqserve-dev" if SHARED_PREFIX else "other",
        prefix="seqserve-dev-" if SHARED_PREFIX else "other-",
        models=(
            ModelConfig(
                name="circrna",
                endpoint="seqserve-dev-circrna" if SHARED_PREFIX else "other-circrna",
                idle_minutes=15,
            ),
            ModelConfig(
                name="aptamer",
                endpoint="seqserve-dev-aptamer" if SHARED_PREFIX else "other-aptamer",
                idle_minutes=5,
                max_wake_minutes=20,
            ),
        ),
    ),
)


@dataclass
class Hold:
    """Something that must keep an endpoint from being deleted: a lease or a queued job."""

    kind: str
    seq: int
    until: float | None = None
    job: str | None = None


@dataclass
class EndpointRecord:
    """What the World knows about one endpoint name of one deployment (or of nobody)."""

    name: str
    owner: str | None
    model: str | None
    # (seq, world time) of each request it served whose use was recorded without a fault.
    protected: list[tuple[int, float]] = field(default_factory=list)
    last_used: float = 0.0
    appeared_at: float = 0.0


@dataclass
class Clocks:
    now: float = START
    skew: dict[str, float] = field(default_factory=dict)

    def of(self, function: str) -> Callable[[], float]:
        return lambda: self.now + self.skew.get(function, 0.0)


class World:
    def __init__(self) -> None:
        self.clocks = Clocks()
        self.server = MotoServer(
            endpoint_times=EndpointTimes(create_seconds=CREATE_SECONDS, delete_seconds=DELETE_SECONDS),
            clock=lambda: self.clocks.now,
        )
        self.server.start()
        self.faults = Faults()
        self.lock = threading.RLock()
        self.seq = 0
        self.stats: Counter[str] = Counter()
        # Set by the model: who was served (the runtime), and whether a job is still open.
        self.served: Callable[[str, str], None] = lambda function, name: None
        self.job_open: Callable[[str, str | None], bool] = lambda deployment, job: True
        self.reset_records()

    # -- time and order ---------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.clocks.now

    def tick(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    # -- the account ------------------------------------------------------------------------------

    @property
    def endpoints(self) -> dict[str, Any]:
        return sagemaker_backends[ACCOUNT_ID][REGION].endpoints

    def advance_sagemaker(self) -> None:
        with self.server.endpoints._lock:
            self.server.endpoints.advance()

    def status(self, name: str) -> str | None:
        self.advance_sagemaker()
        endpoint = self.endpoints.get(name)
        return None if endpoint is None else endpoint.endpoint_status

    def statuses(self) -> dict[str, str]:
        self.advance_sagemaker()
        return {name: e.endpoint_status for name, e in self.endpoints.items()}

    def sagemaker_event(self, event: str, name: str) -> bool:
        """SageMaker moves ``name`` by ``event`` if its status allows; False if it does not."""
        with self.server.endpoints._lock:
            self.server.endpoints.advance()
            endpoint = self.endpoints.get(name)
            if endpoint is None:
                return False
            to = TRANSITIONS[event].get(endpoint.endpoint_status)
            if to is None:
                return False
            if endpoint.endpoint_status == "Creating":
                self.server.endpoints._pending.pop(name, None)
            endpoint.endpoint_status = to
            return True

    def reset(self, observer: dict[str, Any]) -> None:
        httpx.post(f"{self.server.url}/moto-api/reset", timeout=10).raise_for_status()
        self.server.endpoints.reset()
        self.clocks.now = START
        self.clocks.skew.clear()
        self.faults.clear()
        self.seq = 0
        self.reset_records()
        dynamodb, sagemaker = observer["dynamodb"], observer["sagemaker"]
        for deployment in DEPLOYMENTS:
            for table, keys in (
                (deployment.table, [("model", "HASH")]),
                (f"{deployment.name}-history", [("model", "HASH"), ("at", "RANGE")]),
                (f"{deployment.name}-jobs", [("id", "HASH")]),
            ):
                dynamodb.create_table(
                    TableName=table,
                    KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
                    AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
                    BillingMode="PAY_PER_REQUEST",
                )
            sagemaker.create_model(
                ModelName=deployment.config,
                ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker",
                PrimaryContainer={"Image": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/seqserve:latest"},
            )
            sagemaker.create_endpoint_config(
                EndpointConfigName=deployment.config,
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": deployment.config,
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                    }
                ],
            )
            observer["s3"].create_bucket(Bucket=f"{deployment.name}-data")
            observer["sqs"].create_queue(QueueName=f"{deployment.name}-jobs")
            observer["sns"].create_topic(Name=f"{deployment.name}-lifecycle")

    def reset_records(self) -> None:
        self.records: dict[str, EndpointRecord] = {}
        for deployment in DEPLOYMENTS:
            for model in deployment.models:
                self.records[model.endpoint] = EndpointRecord(
                    name=model.endpoint, owner=deployment.name, model=model.name
                )
        self.violations: list[str] = []
        self.creates: Counter[str] = Counter()
        self.holds: dict[tuple[str, str], list[Hold]] = defaultdict(list)
        # The seq of each function's last state-table write that succeeded (the claim before a delete).
        self.last_state_write: dict[str, int] = {}
        self.operator_sleeping: set[tuple[str, str]] = set()
        self.function_writes: Counter[str] = Counter()
        self.triggers: list[Callable[[str, str, dict[str, Any]], None]] = []
        self.runtime_refusal: dict[str, str] = {}
        self.during_invoke: dict[str, Callable[[], Any]] = {}
        self.notices: Counter[tuple[str, str]] = Counter()
        self.lost_notices: Counter[tuple[str, str]] = Counter()

    # -- what the Lambdas do, seen on the wire ----------------------------------------------------

    def watch(self, client: Any, *, deployment: str, function: str) -> Any:
        """Hook a Lambda's client: faults, and the record of every call that matters to an invariant."""
        tables = {d.table for d in DEPLOYMENTS}

        def before(function: str, operation: str, params: dict[str, Any]) -> None:
            self.stats[f"call {operation}"] += 1
            if operation.split(".")[1] in DYNAMODB_WRITES:
                self.function_writes[function] += 1
            for trigger in list(self.triggers):
                trigger(function, operation, params)
            name = params.get("EndpointName")
            if operation in ("sagemaker.DeleteEndpoint", "sagemaker.UpdateEndpoint") and name:
                self.check_touch(deployment, function, operation, name)

        def after(function: str, operation: str, params: dict[str, Any], status: int, parsed: Any) -> None:
            if status >= 300:
                return
            name = params.get("EndpointName")
            if operation == "sagemaker.CreateEndpoint" and name:
                with self.lock:
                    self.creates[name] += 1
                    record = self.records.get(name)
                    if record is None:
                        self.records[name] = EndpointRecord(name=name, owner=deployment, model=None)
                    self.records[name].appeared_at = self.now
            touched = {params.get("TableName")} | {
                next(iter(item.values()), {}).get("TableName") for item in params.get("TransactItems", [])
            }
            if operation.split(".")[1] in DYNAMODB_WRITES and touched & tables:
                self.last_state_write[function] = self.tick()
            if operation == "sns.Publish":
                model = self.notice_model(params)
                key = (deployment, model)
                with self.lock:
                    self.notices[key] += 1
                    if parsed is None:
                        self.lost_notices[key] += 1

        return hook(client, function=function, faults=self.faults, before=before, after=after)

    @staticmethod
    def notice_model(params: dict[str, Any]) -> str:
        try:
            return str(json.loads(params.get("Message", "{}")).get("model", "?"))
        except ValueError:
            return "?"

    def check_touch(self, deployment: str, function: str, operation: str, name: str) -> None:
        """Invariants 10 (another deployment's endpoint) and 3/7 (a wrongful delete), at the call."""
        record = self.records.get(name)
        status = self.status(name)
        if record is None or record.owner != deployment:
            owner = None if record is None else record.owner
            self.violations.append(
                f"10: {function} called {operation} on {name} ({status}), "
                f"which belongs to {owner or 'nobody'}"
            )
            return
        if operation != "sagemaker.DeleteEndpoint" or status is None or status in BROKEN | {"Deleting"}:
            return
        if record.model is None or (deployment, record.model) in self.operator_sleeping:
            return
        spec = next(d for d in DEPLOYMENTS if d.name == deployment).model(record.model)
        claim = self.last_state_write.get(function, self.seq)
        for seq, at in record.protected:
            if seq < claim and self.now < at + spec.idle_minutes * 60:
                self.violations.append(
                    f"7: {function} deleted {name} ({status}) at +{self.now - START:.0f}s, "
                    f"{self.now - at:.0f}s after a request it served (idle_minutes {spec.idle_minutes})"
                )
                return
        for hold in self.holds[(deployment, record.model)]:
            if hold.seq >= claim:
                continue
            if hold.kind == "lease" and hold.until is not None and self.now + MAX_SKEW < hold.until:
                self.violations.append(
                    f"7: {function} deleted {name} ({status}) at +{self.now - START:.0f}s under a lease "
                    f"until +{hold.until - START:.0f}s"
                )
                return
            if hold.kind == "job" and self.now < (hold.until or 0) and self.job_open(deployment, hold.job):
                self.violations.append(
                    f"7: {function} deleted {name} ({status}) at +{self.now - START:.0f}s while job "
                    f"{hold.job} was queued for it"
                )
                return
        if self.window_holds(spec, self.now):
            self.violations.append(
                f"7: {function} deleted {name} ({status}) at +{self.now - START:.0f}s "
                "inside its keep-warm window"
            )

    @staticmethod
    def window_holds(spec: ModelConfig, now: float, *, lead_minutes: int = 10, surely: bool = True) -> bool:
        """A window holds the model at ``now`` whatever the functions' clock skew (``surely``), or for a
        function whose clock is up to MAX_SKEW off (not ``surely``)."""
        from seqserve_common.keep_warm import active, parse_windows

        windows = parse_windows(list(spec.keep_warm))
        lead = lead_minutes * 60
        return (all if surely else any)(
            active(windows, moment, lead_seconds=lead) is not None
            for moment in (now - MAX_SKEW, now + MAX_SKEW)
        )
