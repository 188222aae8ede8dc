"""CDK integ test: one on_demand model's lifecycle, deployed (README "CDK integ tests").

1. A predict on the asleep model answers 503 (waking) and writes the model's state item.
2. Predicts answer 200 once the endpoint is in service.
3. After ``idle_minutes`` without requests, the idle check has deleted the endpoint.

The invoker is called with API Gateway's proxy event (the API's key cannot be read by an assertion), so
this exercises everything behind the gateway. `make test` only verifies the committed snapshot,
offline; deploying needs an account and a trained artifact (``SEQSERVE_INTEG_MODEL_DATA``: the runner
passes no context to a test app, and this file is the test's entry point, as app.py is the app's).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aws_cdk as cdk  # noqa: E402
from aws_cdk import integ_tests_alpha as integ  # noqa: E402
from cdk_nag import NagPackSuppression, NagSuppressions  # noqa: E402

from stacks.app_builder import build_app  # noqa: E402
from stacks.config import parse_deployment  # noqa: E402

MODEL = "circrna"
IDLE_MINUTES = 5
# A trained circrna model.tar.gz (python -m model_code.package); SEQSERVE_INTEG_MODEL_DATA when deploying.
DEFAULT_MODEL_DATA = "s3://seqserve-integ-artifacts/artifacts/circrna/model.tar.gz"


def feature_flags() -> dict:
    """cdk.json's feature flags, so the test synthesizes as `cdk synth` of the app does."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {key: value for key, value in context.items() if key.startswith("@aws-cdk/")}


def api_event(method: str, path: str, body: dict | None = None) -> str:
    """The proxy event API Gateway sends the invoker for ``method path``."""
    return json.dumps(
        {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Content-Type": ["application/json"]},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": None,
            "stageVariables": None,
            "body": json.dumps(body) if body is not None else None,
            "isBase64Encoded": False,
            "requestContext": {
                "requestId": "integ",
                "stage": "prod",
                "httpMethod": method,
                "path": f"/prod{path}",
                "resourcePath": path,
            },
        }
    )


def status_is(status: int) -> integ.ExpectedResult:
    return integ.ExpectedResult.object_like(
        {
            "StatusCode": 200,
            "Payload": integ.Match.serialized_json(integ.Match.object_like({"statusCode": status})),
        }
    )


def main() -> None:
    app = cdk.App(post_cli_context=feature_flags())
    model_data = os.environ.get("SEQSERVE_INTEG_MODEL_DATA") or DEFAULT_MODEL_DATA
    config = parse_deployment(
        {
            "prefix": "seqserve-integ",
            "models": {
                MODEL: {
                    "preset": "circrna",
                    "serving": {
                        "mode": "on_demand",
                        "idle_minutes": IDLE_MINUTES,
                        "check_every_minutes": 1,
                        "model_data": model_data,
                    },
                }
            },
            "tags": {"seqserve:integ": "on-demand-lifecycle"},
        }
    )
    stacks = build_app(app, config)
    # A test deployment is destroyed after its assertions: no termination protection, nothing retained.
    stacks.stateful.termination_protection = False
    cdk.RemovalPolicies.of(app).destroy()

    assertions_stack = cdk.Stack(app, "seqserve-integ-assertions")
    test = integ.IntegTest(
        app,
        "OnDemandLifecycle",
        test_cases=[stacks.stateful, stacks.service],
        assertion_stack=assertions_stack,
        diff_assets=False,
        stack_update_workflow=False,
    )
    invoker = stacks.service.functions.invoker.function_name
    predict = api_event("POST", f"/models/{MODEL}/predict", {"inputs": "ACGUACGUACGUACGUACGU"})

    first = test.assertions.invoke_function(function_name=invoker, payload=predict)
    first.expect(status_is(503))

    state = test.assertions.aws_api_call(
        "DynamoDB",
        "getItem",
        {
            "TableName": stacks.stateful.storage.table.table_name,
            "Key": {"model": {"S": MODEL}},
            "ConsistentRead": True,
        },
    )
    state.expect(
        integ.ExpectedResult.object_like(
            {
                "Item": integ.Match.object_like(
                    {
                        "model": {"S": MODEL},
                        "state": {"S": integ.Match.string_like_regexp("^(waking|awake)$")},
                    }
                )
            }
        )
    )

    served = test.assertions.invoke_function(function_name=invoker, payload=predict)
    served.expect(status_is(200))
    served.wait_for_assertions(total_timeout=cdk.Duration.minutes(30), interval=cdk.Duration.seconds(30))

    # No request since: the idle check deletes the endpoint within idle_minutes + its check interval.
    gone = test.assertions.aws_api_call(
        "SageMaker", "listEndpoints", {"NameContains": stacks.service.models[MODEL].serving.endpoint_name}
    )
    gone.expect(integ.ExpectedResult.object_like({"Endpoints": []}))
    gone.wait_for_assertions(total_timeout=cdk.Duration.minutes(40), interval=cdk.Duration.minutes(1))

    first.next(state).next(served).next(gone)
    suppress_assertion_findings(assertions_stack)
    app.synth()


def suppress_assertion_findings(stack: cdk.Stack) -> None:
    """cdk-nag runs on the whole app; the assertion stack is integ-tests' own test harness."""
    NagSuppressions.add_stack_suppressions(
        stack,
        [
            NagPackSuppression(
                id=rule,
                reason="integ-tests' assertion provider and waiter, deployed only for the test's duration",
            )
            for rule in (
                "AwsSolutions-IAM4",
                "AwsSolutions-IAM5",
                "AwsSolutions-L1",
                "AwsSolutions-SF1",
                "AwsSolutions-SF2",
            )
        ],
    )


if __name__ == "__main__":
    main()
