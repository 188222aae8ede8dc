"""Least privilege, proven by evaluation (issue 20): every AWS request each function makes while the
local stack runs its scenarios, and every service call the training state machine's tasks declare, is
evaluated against the identity policies of its role in the synthesized template (iam_evaluation.py).

Per deployment config, once: the app is synthesized (in a subprocess, while the stack runs), the local
stack runs with every function recording its calls (local/request_recorder.py, as IAM requests per
local/iam_actions.py), and the scenario drives each served model through wake, predict, a queued job,
sleep, a failed endpoint (the failure notice), an untracked endpoint (adoption) and the pipeline's
cleanup. Functions and their roles come from the template and the local stack's Lambda pool: a function
added later is evaluated as soon as the stack runs it, and a function the stack does not run fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lambdas.seqserve_common.ownership import DEPLOYMENT_TAG
from local.aws import ACCOUNT_ID, REGION
from local.iam_actions import Place, call_requests
from local.request_recorder import read_records
from local.sagemaker_timing import ManualClock
from local.settings import local_config
from local.stack import LocalStack, StackOptions
from stacks.naming import sagemaker_base, service_stack_name

from .conftest import ENDPOINT_TIMES, SEQUENCE, destroy_while_time_passes, key_header
from .iam_evaluation import Check, Finding, findings
from .iam_synth import IDLE_MINUTES, REPO_ROOT, presets
from .iam_template import Principal, Templates

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TAGS = {"team": "genomics", "cost-center": "cc-42"}
ALWAYS_ON = {
    "mode": "always_on",
    "instance_type": "ml.c5.large",
    "min_instances": 1,
    "max_instances": 2,
    "model_data": "s3://models-bucket/steady/model.tar.gz",
}
SERVERLESS = {
    "mode": "serverless",
    "memory_mb": 2048,
    "max_concurrency": 2,
    "model_data": "s3://models-bucket/nimble/model.tar.gz",
}
# The default config, and platform configs that together cover the network (subnets, security groups),
# a KMS key, tags, an always_on and a serverless model (which cannot sit in a VPC). network.isolation is
# refused by the config parser (tests/unit/stacks/test_platform_config.py), so no deployment has it.
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "vpc-kms-tags": {
        "models": {"circrna": {"preset": "circrna"}, "steady": {"preset": "circrna", "serving": ALWAYS_ON}},
        "tags": TAGS,
        "network": {
            "subnet_ids": ["subnet-0123abcd"],
            "security_group_ids": ["sg-0123abcd"],
        },
        "kms_key_arn": KEY_ARN,
    },
    "serverless-kms-tags": {
        "models": {"circrna": {"preset": "circrna"}, "nimble": {"preset": "circrna", "serving": SERVERLESS}},
        "tags": TAGS,
        "kms_key_arn": KEY_ARN,
    },
}
PLACE = Place(account=ACCOUNT_ID, region=REGION)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Evaluated:
    """One config's run: the templates with the local names bound, and every check."""

    templates: Templates
    checks: tuple[Check, ...]
    recorded: dict[str, int]
    endpoint_names: frozenset[str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Synthesis:
    """Every config's templates, synthesized by one process while the stacks run."""

    process: subprocess.Popen[str]
    outroot: Path

    def templates(self, label: str, *, timeout: float = 600) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not (self.outroot / f"{label}.done").exists():
            if self.process.poll() is not None and not (self.outroot / f"{label}.done").exists():
                output = (self.outroot / "synth.log").read_text()
                raise AssertionError(
                    f"the synth of {label} failed ({self.process.returncode}):\n{output[-3000:]}"
                )
            assert time.monotonic() < deadline, f"the synth of {label} took longer than {timeout:g} s"
            time.sleep(0.5)
        return {
            path.name.removesuffix(".template.json"): json.loads(path.read_text())
            for path in (self.outroot / label).glob("*.template.json")
        }


@pytest.fixture(scope="module")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesis]:
    outroot = tmp_path_factory.mktemp("iam-cdk-out")
    # In the order the configs' stacks run (the fixture's sorted params), so each waits the least.
    # A file, not a pipe: nobody reads the synth's output while it runs.
    log = (outroot / "synth.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "tests/integration/iam_synth.py"),
            json.dumps({label: CONFIGS[label] for label in sorted(CONFIGS)}),
            str(outroot),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield Synthesis(process=process, outroot=outroot)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()


def wait_until(condition, *, timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, why
        time.sleep(0.2)


def predict_until_served(stack: LocalStack, api: httpx.Client, model: str, clock: ManualClock) -> set[str]:
    """Predict until the endpoint answers; returns who answered on the way (X-Served-By): a sleeping
    model with a serving function answers through it (the bridge) while its endpoint wakes."""
    served_by: set[str] = set()

    def served() -> bool:
        answer = api.post(f"/models/{model}/predict", json={"inputs": SEQUENCE})
        if answer.status_code == 200:
            served_by.add(answer.headers["x-served-by"])
        if answer.status_code == 503 or answer.headers.get("x-served-by") == "lambda":
            clock.advance(max(int(answer.headers.get("retry-after", "1")), 1))
        return answer.status_code == 200 and answer.headers.get("x-served-by") != "lambda"

    wait_until(served, timeout=60, why=f"model {model} never answered a prediction")
    return served_by


def vanish(stack: LocalStack, endpoint_name: str, clock: ManualClock) -> None:
    """The endpoint is deleted behind the app's back (and gone once Deleting is over)."""
    stack.client("sagemaker").delete_endpoint(EndpointName=endpoint_name)
    clock.advance(ENDPOINT_TIMES.delete_seconds)
    stack.client("sagemaker").list_endpoints()  # moves the lifecycle on: the endpoint is gone now


def wait_for_state(api: httpx.Client, model: str, state: str) -> None:
    wait_until(
        lambda: api.get(f"/models/{model}/status").json()["state"] == state,
        timeout=30,
        why=f"{model} never reached {state}",
    )


def wait_for_create(stack: LocalStack, before: int, *, timeout: float, why: str) -> None:
    """Until the embedded AWS has seen more than ``before`` CreateEndpoint calls."""
    wait_until(lambda: stack.moto.calls.count("SageMaker.CreateEndpoint") > before, timeout=timeout, why=why)


def run_scenario(stack: LocalStack, api: httpx.Client, clock: ManualClock) -> None:
    """Each model through the calls its functions make; each function at least once."""
    assert stack.deployment is not None
    from moto.sagemaker.models import sagemaker_backends

    sagemaker = stack.client("sagemaker")
    assert api.get("/models").status_code == 200
    for name, model in stack.deployment.models.items():
        assert api.get(f"/models/{name}/status").status_code == 200
        served_by = predict_until_served(stack, api, name, clock)
        if model.config.serving.mode == "on_demand" and name in stack.model_functions:
            # The invoker's lambda:InvokeFunction (issue 21): the bridge answered while the endpoint woke.
            assert "lambda" in served_by, served_by
        queued = api.post(
            f"/models/{name}/predict", json={"inputs": SEQUENCE}, headers={"Prefer": "respond-async"}
        )
        assert queued.status_code == 202, queued.text
        job = queued.json()["id"]
        wait_until(
            lambda job=job: api.get(f"/jobs/{job}").json()["state"] == "done", timeout=60, why="job never ran"
        )
        api.get(f"/models/{name}/evaluation")
        api.get(f"/models/{name}/usage", params={"days": 1})
        if name in stack.model_functions:
            # The Lambda-hosted model (issue 21): finds the recorded artifact, fetches it, answers.
            body = json.dumps({"inputs": [SEQUENCE]})
            served = stack.model_functions[name].invoke({"body": body, "content_type": "application/json"})
            assert served["status"] == 200, served
        if model.config.serving.mode != "on_demand":
            continue
        assert api.post(f"/models/{name}/wake").status_code in (200, 202)
        api.delete(f"/models/{name}/lease")
        assert api.post(f"/models/{name}/sleep").status_code in (200, 202)
        clock.advance(ENDPOINT_TIMES.delete_seconds)
        wait_until(
            lambda name=name: api.get(f"/models/{name}/status").json()["state"] == "asleep",
            timeout=30,
            why=f"{name} never fell asleep after /sleep",
        )
        endpoints = sagemaker_backends[ACCOUNT_ID][REGION].endpoints
        # A leased model whose endpoint vanishes: the reconciler puts it asleep, then wakes it for the lease.
        before = stack.moto.calls.count("SageMaker.CreateEndpoint")
        assert api.post(f"/models/{name}/wake", json={"keep_warm_minutes": 5}).status_code == 202
        wait_for_create(stack, before, timeout=10, why="the wake created nothing")
        clock.advance(ENDPOINT_TIMES.create_seconds)
        wait_for_state(api, name, "awake")
        before = stack.moto.calls.count("SageMaker.CreateEndpoint")
        vanish(stack, model.endpoint_name, clock)
        wait_for_create(stack, before, timeout=30, why="the reconciler never woke the leased model again")
        clock.advance(ENDPOINT_TIMES.create_seconds)
        wait_for_state(api, name, "awake")
        # With the reconciler paused, the endpoint of an awake model vanishes: a queued job's runner wakes it.
        events = stack.client("events")
        events.disable_rule(Name=stack.deployment.rule_name)
        vanish(stack, model.endpoint_name, clock)
        before = stack.moto.calls.count("SageMaker.CreateEndpoint")
        queued = api.post(
            f"/models/{name}/predict", json={"inputs": SEQUENCE}, headers={"Prefer": "respond-async"}
        )
        assert queued.status_code == 202, queued.text
        wait_for_create(stack, before, timeout=30, why="the job runner never woke the vanished endpoint")
        events.enable_rule(Name=stack.deployment.rule_name)
        # A wake whose endpoint fails: the reconciler deletes it and publishes the failure notice.
        endpoints[model.endpoint_name].endpoint_status = "Failed"
        wait_until(
            lambda name=name: api.get(f"/models/{name}/status").json()["state"] == "failed",
            timeout=30,
            why=f"the reconciler never failed {name}'s endpoint",
        )
        assert api.delete(f"/models/{name}/lease").status_code == 200
        # The pipeline's last step after three training runs: the oldest run's model and config go.
        base = sagemaker_base(stack.options.stack_name, name)
        config = stack.deployment.models[name].endpoint_config_name
        runs = [f"{base}-{uuid.uuid4()}" for _ in range(3)]
        for run in runs:
            sagemaker.create_model(
                ModelName=run,
                ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/x",
                PrimaryContainer={"Image": "x"},
            )
            sagemaker.create_endpoint_config(
                EndpointConfigName=run,
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": run,
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                    }
                ],
            )
            time.sleep(0.01)
        assert config is not None
        assert stack.pipeline_cleanup is not None
        deleted = stack.pipeline_cleanup.invoke(
            {"model": name, "base": base, "endpoint_name": model.endpoint_name, "keep": 2}
        )
        assert deleted["deleted_endpoint_configs"], deleted
    # An endpoint with the app's prefix that no model owns: the reconciler adopts it.
    prefix = stack.deployment.lambda_environment()["ENDPOINT_PREFIX"]
    first = next(iter(stack.deployment.models.values()))
    # Tagged as this deployment's (the reconciler adopts only those: seqserve_common.ownership).
    sagemaker.create_endpoint(
        EndpointName=f"{prefix}orphan",
        EndpointConfigName=first.endpoint_config_name,
        Tags=[{"Key": DEPLOYMENT_TAG, "Value": stack.options.stack_name}],
    )
    clock.advance(ENDPOINT_TIMES.create_seconds)
    checker_log = stack.options.log_dir / f"{stack.options.stack_name}-idle-checker.log"
    wait_until(
        lambda: checker_log.is_file() and "adopted" in checker_log.read_text(),
        timeout=30,
        why="the reconciler never adopted the untracked endpoint",
    )
    # Last, cdk destroy while an endpoint of this deployment is up (the adopted one, at least): the
    # teardown custom resource deletes them (stacks/endpoint_teardown.py) and waits until they are gone.

    def owned() -> list[str]:
        mine = {"Key": DEPLOYMENT_TAG, "Value": stack.options.stack_name}
        return [
            e["EndpointName"]
            for e in sagemaker.list_endpoints()["Endpoints"]
            if mine in sagemaker.list_tags(ResourceArn=e["EndpointArn"])["Tags"]
        ]

    assert owned(), "nothing for the teardown to delete"
    destroy_while_time_passes(stack, clock)
    assert owned() == []


SERVING_HANDLER = "model_server.handler.handler"


def cloudformation_names(templates: Templates, stack: LocalStack, resources: list) -> dict[str, str]:
    """Local ARN -> template ARN of the SageMaker model and endpoint configuration CloudFormation makes
    for a serverless or always_on model: named by content hashes in the template (stacks/naming.py
    content_name), ``<base>-local`` in the local stack. Matched through each function's MODELS."""
    sagemaker = stack.client("sagemaker")
    aliases: dict[str, str] = {}
    local = {function.handler: function for function in stack.functions}
    for stack_name, logical, properties in resources:
        variables = properties.get("Environment", {}).get("Variables", {})
        if properties["Handler"] == SERVING_HANDLER:
            # A model's serving function (issue 21): the invoker calls it by the name the local stack
            # gives it; CloudFormation generates the deployed one.
            aliases[PLACE.arn("lambda", f"function:{local[SERVING_HANDLER].name}")] = templates.resolve(
                stack_name, {"Fn::GetAtt": [logical, "Arn"]}
            )
        if "MODELS" not in variables:
            continue
        # A string, or a Fn::Join where MODELS names the serving functions CloudFormation creates.
        deployed_models = templates.resolve(stack_name, variables["MODELS"])
        if not isinstance(deployed_models, str):
            continue
        local_models = json.loads(local[properties["Handler"]].environment["MODELS"])
        configs = {
            templates.resolve(stack_name, r["Properties"].get("EndpointConfigName")): r["Properties"]
            for r in templates.templates[stack_name]["Resources"].values()
            if r["Type"] == "AWS::SageMaker::EndpointConfig"
        }
        for name, spec in json.loads(deployed_models).items():
            deployed, local_config_name = (
                spec.get("endpoint_config_name"),
                local_models[name]["endpoint_config_name"],
            )
            if deployed is None or deployed == local_config_name or deployed not in configs:
                continue
            aliases[PLACE.arn("sagemaker", f"endpoint-config/{local_config_name}").lower()] = PLACE.arn(
                "sagemaker", f"endpoint-config/{deployed}"
            ).lower()
            variant = configs[deployed]["ProductionVariants"][0]
            local_variant = sagemaker.describe_endpoint_config(EndpointConfigName=local_config_name)[
                "ProductionVariants"
            ][0]
            aliases[PLACE.arn("sagemaker", f"model/{local_variant['ModelName']}").lower()] = PLACE.arn(
                "sagemaker", f"model/{templates.resolve(stack_name, variant['ModelName'])}"
            ).lower()
    return aliases


def evaluate_run(templates: Templates, stack: LocalStack, record_dir: Path) -> Evaluated:
    local = {function.handler: function for function in stack.functions}
    resources = templates.function_resources()
    not_run = sorted({props["Handler"] for _, _, props in resources} - set(local))
    assert not not_run, f"the local stack does not run these functions of the template: {not_run}"
    for stack_name, _, properties in resources:
        local_env = local[properties["Handler"]].environment
        templates.bind_environment(
            stack_name, properties.get("Environment", {}).get("Variables", {}), local_env
        )
    aliases = cloudformation_names(templates, stack, resources)
    checks: list[Check] = []
    recorded: dict[str, int] = {}
    for function in templates.functions():
        runner = local[function.handler]
        who = f"{function.logical_id} ({runner.name})"
        records = (
            read_records(runner.record_file) if runner.record_file and runner.record_file.is_file() else []
        )
        recorded[runner.name] = len(records)
        for record in records:
            if "error" in record:
                checks.append(
                    Check(
                        who=who,
                        call=record["call"],
                        principal=function.principal,
                        action="(unrecorded)",
                        resource=record["error"],
                        context={},
                    )
                )
                continue
            checks += [
                Check(
                    who=who,
                    call=record["call"],
                    principal=function.principal,
                    action=r["action"],
                    resource=aliases.get(r["resource"], r["resource"]),
                    context=r["context"],
                )
                for r in record["requests"]
            ]
        checks += [
            Check(
                who=who,
                call="Lambda service",
                principal=function.principal,
                action=r.action,
                resource=r.resource,
                context=r.condition_context({}),
            )
            for r in function.service_requests
        ]
    # A task that changes an existing endpoint (the pipeline's UpdateEndpoint) acts on one this
    # deployment's functions created, so the endpoint carries their ownership tag when the task runs.
    assert stack.deployment is not None
    owned = {DEPLOYMENT_TAG: stack.deployment.deployment}
    for machine in templates.state_machines():
        for task, requests in machine.task_requests.items():
            checks += [
                Check(
                    who=f"{machine.logical_id} task {task}",
                    call="state machine task",
                    principal=machine.principal,
                    action=r.action,
                    resource=r.resource,
                    context=r.condition_context(owned if r.resource_tags_of is not None else {}),
                )
                for r in requests
            ]
    endpoints = frozenset(model.endpoint_name for model in stack.deployment.models.values())
    return Evaluated(templates=templates, checks=tuple(checks), recorded=recorded, endpoint_names=endpoints)


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def evaluated(
    request: pytest.FixtureRequest,
    synthesis: Synthesis,
    trained_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Evaluated]:
    label = request.param
    context = CONFIGS[label]
    work = tmp_path_factory.mktemp(f"iam-{label}")
    config = local_config(context=context, presets=presets(context), idle_minutes=IDLE_MINUTES)
    clock = ManualClock()
    options = StackOptions(
        config=config,
        stack_name=service_stack_name(config.prefix),
        model_dirs={name: trained_model for name in presets(context)},
        log_dir=work / "logs",
        check_every_seconds=0.5,
        endpoint_times=ENDPOINT_TIMES,
        endpoint_clock=clock,
        record_dir=work / "records",
    )
    options.record_dir.mkdir()
    with (
        LocalStack(options) as stack,
        httpx.Client(base_url=stack.api_url, timeout=60, headers=key_header(stack)) as api,
    ):
        run_scenario(stack, api, clock)
        templates = Templates(templates=synthesis.templates(label), place=PLACE)
        yield evaluate_run(templates, stack, options.record_dir)


def report(found: list[Finding]) -> str:
    return "\n".join(sorted({str(finding) for finding in found}))


def test_every_function_recorded_its_calls(evaluated: Evaluated) -> None:
    assert evaluated.recorded and all(count > 0 for count in evaluated.recorded.values()), evaluated.recorded


def test_no_request_of_any_function_or_task_is_denied(evaluated: Evaluated) -> None:
    found = findings(evaluated.checks)
    assert not found, f"{len(found)} requests denied:\n{report(found)}"


def without_action(principal: Principal, action: str) -> Principal:
    """The principal's policies with ``action`` taken out of every statement that grants it."""

    def weaken(statement: dict[str, Any]) -> dict[str, Any] | None:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if action not in actions:
            return statement
        rest = [a for a in actions if a != action]
        return {**statement, "Action": rest} if rest else None

    policies = tuple(
        {**policy, "Statement": [w for w in map(weaken, policy["Statement"]) if w is not None]}
        for policy in principal.policies
    )
    return dataclasses.replace(principal, policies=policies)


def test_a_removed_grant_is_reported_as_a_deny(evaluated: Evaluated) -> None:
    """Teeth: without sagemaker:DeleteEndpoint in the reconciler's policies, the deletes it made in the
    scenario are reported, naming the function, the action and the endpoint; nothing else changes."""
    deletes = [
        c for c in evaluated.checks if "idle-checker" in c.who and c.action == "sagemaker:DeleteEndpoint"
    ]
    assert deletes, "the scenario made the reconciler delete no endpoint"
    original = deletes[0].principal
    weakened = without_action(original, "sagemaker:DeleteEndpoint")
    checks = [
        dataclasses.replace(c, principal=weakened) if c.principal == original else c for c in evaluated.checks
    ]
    before = {str(f) for f in findings(evaluated.checks)}
    new = [f for f in findings(checks) if str(f) not in before]
    assert new
    assert {(f.check.action, f.result) for f in new} == {("sagemaker:DeleteEndpoint", "ImplicitlyDenied")}
    endpoint = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint/"
    assert all("idle-checker" in f.check.who and f.check.resource.startswith(endpoint) for f in new)
    assert any(f.check.resource.removeprefix(endpoint) in evaluated.endpoint_names for f in new), report(new)


def test_the_evaluator_decides_the_tag_conditions_of_the_ownership_grants() -> None:
    """The conditions the endpoint grants use (DESIGN "Ownership"): Delete/UpdateEndpoint only on an
    endpoint tagged with this deployment, CreateEndpoint only with that tag in the request."""
    endpoints = PLACE.arn("sagemaker", "endpoint/seqserve-*")
    owner = "seqserve:deployment"
    principal = Principal(
        stack="s",
        role="r",
        arn=f"arn:aws:iam::{ACCOUNT_ID}:role/r",
        policies=(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sagemaker:DeleteEndpoint",
                        "Resource": endpoints,
                        "Condition": {"StringEquals": {f"aws:ResourceTag/{owner}": "seqserve-service"}},
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["sagemaker:CreateEndpoint", "sagemaker:AddTags"],
                        "Resource": endpoints,
                        "Condition": {"StringEquals": {f"aws:RequestTag/{owner}": "seqserve-service"}},
                    },
                ],
            },
        ),
    )

    def checks(operation: str, params: dict[str, Any], resource_tags: dict[str, str]) -> list[Check]:
        return [
            Check(
                who="probe",
                call=operation,
                principal=principal,
                action=r.action,
                resource=r.resource,
                context=r.condition_context(resource_tags),
            )
            for r in call_requests(service="sagemaker", operation=operation, params=params, place=PLACE)
            if r.resource.startswith(PLACE.arn("sagemaker", "endpoint/"))
        ]

    mine = {owner: "seqserve-service"}
    other = {owner: "seqserve-dev-service"}
    tagged = {
        "EndpointName": "seqserve-x",
        "EndpointConfigName": "c",
        "Tags": [{"Key": owner, "Value": "seqserve-service"}],
    }
    assert not findings(checks("DeleteEndpoint", {"EndpointName": "seqserve-x"}, mine))
    assert not findings(checks("CreateEndpoint", tagged, {}))
    denied = findings(checks("DeleteEndpoint", {"EndpointName": "seqserve-dev-x"}, other))
    denied += findings(checks("DeleteEndpoint", {"EndpointName": "seqserve-x"}, {}))
    denied += findings(
        checks("CreateEndpoint", {"EndpointName": "seqserve-x", "EndpointConfigName": "c"}, {})
    )
    assert [(f.check.action, f.result) for f in denied] == [
        ("sagemaker:DeleteEndpoint", "ImplicitlyDenied"),
        ("sagemaker:DeleteEndpoint", "ImplicitlyDenied"),
        ("sagemaker:CreateEndpoint", "ImplicitlyDenied"),
    ]


def grants(principal: Principal, action: str) -> bool:
    for policy in principal.policies:
        for statement in policy["Statement"]:
            actions = statement.get("Action", [])
            if statement["Effect"] == "Allow" and action in (
                [actions] if isinstance(actions, str) else actions
            ):
                return True
    return False


def test_every_role_allowed_to_create_an_endpoint_was_seen_creating_one(evaluated: Evaluated) -> None:
    """The scenario reaches each path that creates an endpoint (the invoker's wake, the reconciler's
    re-create, the job runner's wake), so their tags and key grants are evaluated, not assumed."""
    callers = {
        c.principal.role
        for c in evaluated.checks
        if c.call == "sagemaker.CreateEndpoint" and c.action == "sagemaker:CreateEndpoint"
    }
    allowed = {
        function.principal.role
        for function in evaluated.templates.functions()
        if grants(function.principal, "sagemaker:CreateEndpoint")
    }
    assert allowed and allowed <= callers, f"never seen creating an endpoint: {sorted(allowed - callers)}"
