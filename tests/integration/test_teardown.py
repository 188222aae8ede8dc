"""Issue 22, item 1: deleting the service stack while a model is awake leaves no endpoint billing.

The local stack plays CloudFormation's Delete of the teardown custom resource (``LocalStack.destroy``)
through the real function in the Lambda pool, against the embedded AWS, with endpoints that take time
to delete on a clock the test moves.
"""

from __future__ import annotations

import httpx
import pytest

from lambdas.seqserve_common.ownership import DEPLOYMENT_TAG
from local.stack import LocalStack

from .conftest import destroy_while_time_passes, endpoint_clock, predict_until_awake

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_destroy_while_awake_leaves_no_endpoint_of_this_deployment(
    stack: LocalStack, api: httpx.Client
) -> None:
    assert predict_until_awake(stack, api).status_code == 200
    sagemaker = stack.client("sagemaker")
    model = stack.deployment.models["circrna"]
    prefix = stack.deployment.lambda_environment()["ENDPOINT_PREFIX"]
    # Another deployment sharing the prefix (seqserve and seqserve-dev): never touched.
    other = f"{prefix}dev-circrna"
    sagemaker.create_endpoint(
        EndpointName=other,
        EndpointConfigName=model.endpoint_config_name,
        Tags=[{"Key": DEPLOYMENT_TAG, "Value": "seqserve-dev-service"}],
    )
    assert {e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]} == {
        model.endpoint_name,
        other,
    }

    answer = destroy_while_time_passes(stack, endpoint_clock(stack))

    assert answer["Data"] == {"Deleted": model.endpoint_name}
    assert {e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]} == {other}
    assert stack.moto.calls.count("SageMaker.DeleteEndpoint") == 1
