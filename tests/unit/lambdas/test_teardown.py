"""Issue 22, item 1: deleting the service stack deletes every endpoint of this deployment, and waits."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from lambdas_testkit import DEPLOYMENT
from teardown.teardown import EndpointsRemain, Teardown, TeardownRequest, TeardownRequestError

PREFIX = "seqserve-"


class SlowDeletes:
    """moto's SageMaker, except that a deleted endpoint stays listed (Deleting) for ``polls`` more looks."""

    def __init__(self, sagemaker: Any, polls: int) -> None:
        self._sagemaker = sagemaker
        self._polls = polls
        self.deleting: dict[str, int] = {}
        self.delete_calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sagemaker, name)

    def delete_endpoint(self, EndpointName: str) -> dict:
        self.delete_calls.append(EndpointName)
        self.deleting[EndpointName] = self._polls
        return {}

    def describe_endpoint(self, EndpointName: str) -> dict:
        described = self._sagemaker.describe_endpoint(EndpointName=EndpointName)
        if EndpointName in self.deleting:
            described["EndpointStatus"] = "Deleting"
        return described

    def tick(self, _seconds: float) -> None:
        for name, left in list(self.deleting.items()):
            if left <= 1:
                self._sagemaker.delete_endpoint(EndpointName=name)
                del self.deleting[name]
            else:
                self.deleting[name] = left - 1


def teardown(sagemaker: Any, *, wait: float = 60, sleep=lambda _s: None) -> Teardown:
    now = [0.0]

    def pause(seconds: float) -> None:
        now[0] += seconds
        sleep(seconds)

    return Teardown(
        sagemaker=sagemaker,
        deployment=DEPLOYMENT,
        prefix=PREFIX,
        logger=Logger(),
        wait_seconds=wait,
        poll_seconds=10,
        sleep=pause,
        clock=lambda: now[0],
    )


def delete_event() -> TeardownRequest:
    return TeardownRequest.parse({"RequestType": "Delete", "PhysicalResourceId": "seqserve-teardown"})


def test_delete_removes_this_deployments_endpoints_and_nothing_else(aws):
    aws.create_endpoint("seqserve-circrna")
    aws.create_endpoint("seqserve-orphan")
    # seqserve-dev shares the prefix; untagged endpoints are nobody's to delete.
    aws.create_endpoint(
        "seqserve-dev-circrna", tags=[{"Key": "seqserve:deployment", "Value": "seqserve-dev-service"}]
    )
    aws.create_endpoint("seqserve-manual", tags=[])
    result = teardown(aws.sagemaker).run(delete_event())
    assert result == {
        "PhysicalResourceId": "seqserve-teardown",
        "Data": {"Deleted": "seqserve-circrna,seqserve-orphan"},
    }
    left = {e["EndpointName"] for e in aws.sagemaker.list_endpoints()["Endpoints"]}
    assert left == {"seqserve-dev-circrna", "seqserve-manual"}


def test_delete_waits_until_sagemaker_has_deleted_them(aws):
    aws.create_endpoint("seqserve-circrna")
    slow = SlowDeletes(aws.sagemaker, polls=3)
    teardown(slow, sleep=slow.tick).run(delete_event())
    assert not aws.endpoint_exists("seqserve-circrna")
    # Asked once: an endpoint already Deleting is waited for, not deleted again.
    assert slow.delete_calls == ["seqserve-circrna"]


def test_delete_fails_naming_the_endpoints_still_there_at_the_deadline(aws):
    aws.create_endpoint("seqserve-circrna")
    slow = SlowDeletes(aws.sagemaker, polls=100)
    with pytest.raises(EndpointsRemain, match=r"after 30 s: seqserve-circrna; delete them"):
        teardown(slow, wait=30, sleep=slow.tick).run(delete_event())


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_touch_no_endpoint(aws, request_type):
    aws.create_endpoint("seqserve-circrna")
    result = teardown(aws.sagemaker).run(TeardownRequest.parse({"RequestType": request_type}))
    assert result == {"PhysicalResourceId": f"{DEPLOYMENT}-endpoint-teardown"}
    assert aws.endpoint_exists("seqserve-circrna")


@pytest.mark.parametrize("event", [{}, {"RequestType": "Remove"}, "Delete"])
def test_an_event_that_is_not_cloudformations_is_refused_by_name(event):
    with pytest.raises(
        TeardownRequestError, match=r"event\.RequestType: expected one of Create, Update, Delete"
    ):
        TeardownRequest.parse(event)


class ListTagsFailsOnce:
    """moto's SageMaker, except that the first ListTags answers a 500 (as moto does for an endpoint
    deleted between ListEndpoints and ListTags) and every later one works."""

    def __init__(self, sagemaker: Any) -> None:
        self._sagemaker = sagemaker
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sagemaker, name)

    def get_paginator(self, operation: str) -> Any:
        if operation == "list_tags" and self.failures == 0:
            self.failures += 1
            raise ClientError(
                {
                    "Error": {"Code": "500", "Message": "Internal Server Error"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "ListTags",
            )
        return self._sagemaker.get_paginator(operation)


def test_a_listing_that_fails_for_now_is_looked_at_again_not_a_failed_teardown(aws):
    aws.create_endpoint("seqserve-circrna")
    flaky = ListTagsFailsOnce(aws.sagemaker)
    result = teardown(flaky).run(delete_event())
    assert flaky.failures == 1
    assert result["Data"] == {"Deleted": "seqserve-circrna"}


def test_access_denied_on_the_listing_still_fails_the_teardown(aws):
    aws.create_endpoint("seqserve-circrna")

    class Denied(ListTagsFailsOnce):
        def get_paginator(self, operation: str) -> Any:
            if operation == "list_tags":
                raise ClientError(
                    {
                        "Error": {"Code": "AccessDeniedException", "Message": "no"},
                        "ResponseMetadata": {"HTTPStatusCode": 400},
                    },
                    "ListTags",
                )
            return self._sagemaker.get_paginator(operation)

    with pytest.raises(ClientError, match="AccessDenied"):
        teardown(Denied(aws.sagemaker)).run(delete_event())
