"""Which IAM authorization requests one AWS API call makes: action, resource ARN and condition context.

The one place that says so (issue 20). IAM authorizes a call as one or more requests, each an action
on a resource; usually that is ``<service prefix>:<operation>`` on the resource the call names, and
this module derives it from the call's parameters. Where AWS documents more, it is listed here with
its source:

- ``sagemaker:CreateEndpoint`` is authorized on the endpoint and on the endpoint configuration it
  names; ``UpdateEndpoint`` likewise (Service Authorization Reference, "Actions defined by Amazon
  SageMaker": resource types ``endpoint*`` and ``endpoint-config*``,
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).
- A SageMaker create call with ``Tags`` also needs ``sagemaker:AddTags`` on the new resource, with the
  tags as ``aws:RequestTag/...`` and ``aws:TagKeys`` ("Provide permissions for tagging SageMaker AI
  resources",
  https://docs.aws.amazon.com/sagemaker/latest/dg/security_iam_id-based-policy-examples.html#grant-tagging-permissions).
- ``CreateEndpoint``/``UpdateEndpoint`` whose endpoint configuration has a ``KmsKeyId`` also needs
  ``kms:CreateGrant`` on that key, which SageMaker uses for the instances' volumes ("SageMaker AI API
  Permissions: Actions, Permissions, and Resources Reference", CreateEndpoint: "kms:CreateGrant
  (required only if the associated EndpointConfig has a KmsKeyId specified)",
  https://docs.aws.amazon.com/sagemaker/latest/dg/api-permissions-reference.html). SageMaker creates the
  grant for an AWS resource: ``kms:GrantIsForAWSResource`` is true (AWS KMS condition keys,
  https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource).
- SageMaker authorizes against the resource name in lower case: an endpoint ``MyModel`` is
  ``arn:aws:sagemaker:...:endpoint/mymodel`` in IAM (the same API reference: "resource names are
  converted to lowercase in ARNs"; stacks/naming.py names everything in lower case for this reason).
  ``sagemaker-runtime:InvokeEndpoint`` is the IAM action ``sagemaker:InvokeEndpoint``.
- SQS batch calls are authorized as their single action (``SendMessageBatch`` -> ``sqs:SendMessage``,
  "Amazon SQS API permissions: Actions and resource reference",
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html).
- S3: ``HeadObject`` is ``s3:GetObject``, ``ListObjectsV2`` is ``s3:ListBucket`` on the bucket (S3 API
  operation-to-permission mapping,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html).
- DynamoDB ``TransactWriteItems``/``BatchWriteItem`` are authorized per item, as the item's own action on
  its table (DynamoDB API permissions reference,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/api-permissions-reference.html).
- Lambda ``Invoke`` is ``lambda:InvokeFunction`` on the function ("Actions defined by AWS Lambda",
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html).
- A Step Functions task declares its service call in its ``Resource``; what each integration needs is
  in ``state_machine_requests`` below ("IAM policies for integrated services",
  https://docs.aws.amazon.com/step-functions/latest/dg/service-integration-iam-templates.html).

No aws_cdk import: the Lambda workers of the local stack import this to record their calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# botocore service name -> IAM service prefix, where they differ.
IAM_PREFIX = {"sagemaker-runtime": "sagemaker", "monitoring": "cloudwatch"}
# Operations whose IAM action is not the operation name (see the module docstring for the sources).
RENAMED = {
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "HeadBucket"): "ListBucket",
}
# SageMaker's name parameters -> the ARN's resource type; every one a call carries is authorized.
SAGEMAKER_NAMES = {
    "EndpointName": "endpoint",
    "EndpointConfigName": "endpoint-config",
    "ModelName": "model",
    "TrainingJobName": "training-job",
}
# The resource a SageMaker create call makes (it gets the request's tags).
SAGEMAKER_CREATES = {
    "CreateEndpoint": "EndpointName",
    "CreateEndpointConfig": "EndpointConfigName",
    "CreateModel": "ModelName",
    "CreateTrainingJob": "TrainingJobName",
}
# Calls that need the endpoint configuration's KMS key (kms:CreateGrant).
USES_CONFIG_KEY = ("CreateEndpoint", "UpdateEndpoint")
DYNAMODB_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
DYNAMODB_BATCH = {"PutRequest": "PutItem", "DeleteRequest": "DeleteItem"}


class UnknownCall(ValueError):
    """A call this table cannot turn into IAM requests; the message names it and what to add."""


@dataclass(frozen=True, kw_only=True)
class AuthorizationRequest:
    """One action on one resource, as IAM evaluates it. ``resource_tags_of``: the ARN (as the service
    spells it) whose current tags are the resource's ``aws:ResourceTag/...`` values."""

    action: str
    resource: str
    request_tags: Mapping[str, str] = field(default_factory=dict)
    resource_tags_of: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)

    def condition_context(self, resource_tags: Mapping[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = dict(self.context)
        for key, value in resource_tags.items():
            values[f"aws:ResourceTag/{key}"] = value
        for key, value in self.request_tags.items():
            values[f"aws:RequestTag/{key}"] = value
        if self.request_tags:
            values["aws:TagKeys"] = sorted(self.request_tags)
        return values


@dataclass(frozen=True, kw_only=True)
class Place:
    account: str
    region: str
    partition: str = "aws"

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region, account = (self.region, self.account) if regional else ("", "")
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"


def _tags(params: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in params.get("Tags") or []}


def _sagemaker(
    operation: str,
    params: Mapping[str, Any],
    place: Place,
    config_key: Callable[[str], str | None],
) -> list[AuthorizationRequest]:
    action = f"sagemaker:{operation}"
    tags = _tags(params)
    requests: list[AuthorizationRequest] = []
    for parameter, kind in SAGEMAKER_NAMES.items():
        name = params.get(parameter)
        if not isinstance(name, str):
            continue
        spelled = place.arn("sagemaker", f"{kind}/{name}")
        created = SAGEMAKER_CREATES.get(operation) == parameter
        requests.append(
            AuthorizationRequest(
                action=action,
                resource=spelled.lower(),
                request_tags=tags if created else {},
                resource_tags_of=None if created else spelled,
            )
        )
        if created and tags:
            requests.append(
                AuthorizationRequest(action="sagemaker:AddTags", resource=spelled.lower(), request_tags=tags)
            )
    if isinstance(params.get("ResourceArn"), str):
        arn = params["ResourceArn"]
        requests.append(
            AuthorizationRequest(action=action, resource=arn.lower(), request_tags=tags, resource_tags_of=arn)
        )
    if not requests:
        # List* and other calls that name no resource support no resource-level permissions.
        requests.append(AuthorizationRequest(action=action, resource="*"))
    if operation in USES_CONFIG_KEY and isinstance(params.get("EndpointConfigName"), str):
        key = config_key(params["EndpointConfigName"])
        if key:
            requests.append(
                AuthorizationRequest(
                    action="kms:CreateGrant",
                    resource=key,
                    context={"kms:GrantIsForAWSResource": "true"},
                )
            )
    return requests


def _table(place: Place, name: str) -> str:
    return place.arn("dynamodb", f"table/{name}")


def _dynamodb(operation: str, params: Mapping[str, Any], place: Place) -> list[AuthorizationRequest]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        found = []
        for item in params.get("TransactItems", []):
            for kind, body in item.items():
                action = DYNAMODB_TRANSACT.get(kind, "GetItem")
                found.append(
                    AuthorizationRequest(
                        action=f"dynamodb:{action}", resource=_table(place, body["TableName"])
                    )
                )
        return found
    if operation == "BatchWriteItem":
        return [
            AuthorizationRequest(action=f"dynamodb:{DYNAMODB_BATCH[kind]}", resource=_table(place, table))
            for table, writes in params.get("RequestItems", {}).items()
            for write in writes
            for kind in write
        ]
    if operation == "BatchGetItem":
        return [
            AuthorizationRequest(action="dynamodb:BatchGetItem", resource=_table(place, table))
            for table in params.get("RequestItems", {})
        ]
    table = params.get("TableName")
    if not isinstance(table, str):
        return [AuthorizationRequest(action=f"dynamodb:{operation}", resource="*")]
    resource = _table(place, table)
    if isinstance(params.get("IndexName"), str):
        resource += f"/index/{params['IndexName']}"
    return [AuthorizationRequest(action=f"dynamodb:{operation}", resource=resource)]


def _sqs(operation: str, params: Mapping[str, Any], place: Place) -> list[AuthorizationRequest]:
    action = f"sqs:{RENAMED.get(('sqs', operation), operation)}"
    url = params.get("QueueUrl")
    if isinstance(url, str):
        return [
            AuthorizationRequest(action=action, resource=place.arn("sqs", url.rstrip("/").rsplit("/", 1)[-1]))
        ]
    if isinstance(params.get("QueueName"), str):
        return [AuthorizationRequest(action=action, resource=place.arn("sqs", params["QueueName"]))]
    return [AuthorizationRequest(action=action, resource="*")]


def _s3(operation: str, params: Mapping[str, Any], place: Place) -> list[AuthorizationRequest]:
    action = f"s3:{RENAMED.get(('s3', operation), operation)}"
    bucket = params.get("Bucket")
    if not isinstance(bucket, str):
        return [AuthorizationRequest(action=action, resource="*")]
    key = params.get("Key")
    if isinstance(key, str) and action not in ("s3:ListBucket",):
        resource = place.arn("s3", f"{bucket}/{key}", regional=False)
    else:
        resource = place.arn("s3", bucket, regional=False)
    return [AuthorizationRequest(action=action, resource=resource)]


def _sns(operation: str, params: Mapping[str, Any]) -> list[AuthorizationRequest]:
    arn = params.get("TopicArn") or params.get("TargetArn") or "*"
    return [AuthorizationRequest(action=f"sns:{operation}", resource=arn)]


def _events(operation: str, params: Mapping[str, Any], place: Place) -> list[AuthorizationRequest]:
    name = params.get("Name") or params.get("Rule")
    bus = params.get("EventBusName")
    if isinstance(name, str):
        path = f"rule/{bus}/{name}" if isinstance(bus, str) and bus != "default" else f"rule/{name}"
        return [AuthorizationRequest(action=f"events:{operation}", resource=place.arn("events", path))]
    return [AuthorizationRequest(action=f"events:{operation}", resource="*")]


def _lambda(operation: str, params: Mapping[str, Any], place: Place) -> list[AuthorizationRequest]:
    # Invoke is authorized as lambda:InvokeFunction on the function ("Actions defined by AWS Lambda",
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html); the
    # call names the function by name or ARN.
    action = "lambda:InvokeFunction" if operation == "Invoke" else f"lambda:{operation}"
    name = params.get("FunctionName")
    if not isinstance(name, str):
        return [AuthorizationRequest(action=action, resource="*")]
    resource = name if name.startswith("arn:") else place.arn("lambda", f"function:{name}")
    return [AuthorizationRequest(action=action, resource=resource)]


def call_requests(
    *,
    service: str,
    operation: str,
    params: Mapping[str, Any],
    place: Place,
    config_key: Callable[[str], str | None] = lambda _name: None,
) -> list[AuthorizationRequest]:
    """The requests of one call. ``service``: botocore's service name; ``config_key(name)``: the KMS key
    of endpoint configuration ``name`` (None without one)."""
    prefix = IAM_PREFIX.get(service, service)
    if prefix == "sagemaker":
        return _sagemaker(operation, params, place, config_key)
    if prefix == "dynamodb":
        return _dynamodb(operation, params, place)
    if prefix == "sqs":
        return _sqs(operation, params, place)
    if prefix == "s3":
        return _s3(operation, params, place)
    if prefix == "sns":
        return _sns(operation, params)
    if prefix == "events":
        return _events(operation, params, place)
    if prefix == "lambda":
        return _lambda(operation, params, place)
    if prefix in ("cloudwatch", "xray", "sts"):
        # PutMetricData, the X-Ray calls and GetCallerIdentity support no resource-level permissions.
        return [AuthorizationRequest(action=f"{prefix}:{operation}", resource="*")]
    raise UnknownCall(
        f"{service}.{operation}: local/iam_actions.py has no rule for {service} calls; add how IAM "
        "authorizes them (action, resource ARN), with its source"
    )


# --- Step Functions tasks ---------------------------------------------------------------------------

# Optimized integrations' actions beyond the call itself, per AWS's "IAM policies for integrated
# services" (https://docs.aws.amazon.com/step-functions/latest/dg/service-integration-iam-templates.html):
# a .sync SageMaker training task describes and stops the job, lists its tags (on "*" in AWS's
# policy template) and keeps a managed EventBridge rule.
SYNC_EXTRA = {
    "sagemaker:createTrainingJob.sync": (
        ("sagemaker:DescribeTrainingJob", "TrainingJobName", "training-job"),
        ("sagemaker:StopTrainingJob", "TrainingJobName", "training-job"),
        ("sagemaker:ListTags", None, None),
    ),
}
SYNC_RULES = {"sagemaker:createTrainingJob.sync": "StepFunctionsGetEventsForSageMakerTrainingJobsRule"}
TASK_RESOURCE = re.compile(r"^arn:[a-z-]+:states:::(?P<integration>.+)$")
# Task parameters whose value is the ARN of the service role the created resource assumes.
PASSED_ROLES = ("RoleArn", "ExecutionRoleArn")


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def state_machine_requests(
    task_resource: str, parameters: Mapping[str, Any], *, place: Place
) -> list[AuthorizationRequest]:
    """What the state machine's role needs for one Task state: ``task_resource`` is its ``Resource``,
    ``parameters`` its ``Parameters`` with paths (``X.$``) already replaced by a value of their shape."""
    if task_resource.startswith(f"arn:{place.partition}:lambda:"):
        return [AuthorizationRequest(action="lambda:InvokeFunction", resource=task_resource)]
    match = TASK_RESOURCE.match(task_resource)
    if match is None:
        raise UnknownCall(f"task resource {task_resource!r} is not a Step Functions service integration")
    integration = match["integration"]
    if integration.startswith("lambda:invoke"):
        function = str(parameters["FunctionName"])
        return [AuthorizationRequest(action="lambda:InvokeFunction", resource=function)]
    if integration.startswith("aws-sdk:"):
        service, _, action = integration.removeprefix("aws-sdk:").partition(":")
        operation, service = _pascal(action.split(".")[0]), {"sfn": "states"}.get(service, service)
    else:
        service, _, action = integration.partition(":")
        operation = _pascal(action.split(".")[0])
        # The optimized integrations' service names are the IAM prefixes already (sns, dynamodb, ...).
    botocore_service = {"sns": "sns", "dynamodb": "dynamodb", "sagemaker": "sagemaker"}.get(service, service)
    requests = call_requests(service=botocore_service, operation=operation, params=parameters, place=place)
    for action_name, parameter, kind in SYNC_EXTRA.get(integration, ()):
        resource = "*"
        if parameter is not None:
            resource = place.arn("sagemaker", f"{kind}/{parameters[parameter]}").lower()
        requests.append(AuthorizationRequest(action=action_name, resource=resource))
    rule = SYNC_RULES.get(integration)
    if rule is not None:
        arn = place.arn("events", f"rule/{rule}")
        requests += [
            AuthorizationRequest(action=f"events:{a}", resource=arn)
            for a in ("PutTargets", "PutRule", "DescribeRule")
        ]
    for parameter in PASSED_ROLES:
        role = parameters.get(parameter)
        if isinstance(role, str):
            requests.append(
                AuthorizationRequest(
                    action="iam:PassRole",
                    resource=role,
                    context={"iam:PassedToService": f"{service}.amazonaws.com"},
                )
            )
    return requests


def unique(requests: Iterable[AuthorizationRequest]) -> list[AuthorizationRequest]:
    seen: dict[tuple, AuthorizationRequest] = {}
    for request in requests:
        key = (
            request.action,
            request.resource,
            tuple(sorted(request.request_tags.items())),
            request.resource_tags_of,
        )
        seen.setdefault(key, request)
    return list(seen.values())


# --- What Lambda itself does with a function's role -------------------------------------------------

# Lambda writes the function's logs to its log group (CreateLogStream, PutLogEvents: "Sending Lambda
# function logs to CloudWatch Logs", https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html),
# sends traces under active tracing ("Visualize Lambda function invocations using AWS X-Ray",
# https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html), polls an SQS event source ("Execution
# role permissions", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html) and
# manages a VPC function's network interfaces ("Giving Lambda functions access to resources in an
# Amazon VPC", https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html).
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
SQS_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
VPC_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


def lambda_service_requests(
    *,
    log_group: str | None,
    function_name: str,
    tracing: bool,
    queue_arns: Iterable[str],
    in_vpc: bool,
    place: Place,
) -> list[AuthorizationRequest]:
    """The requests Lambda makes with a function's role, from the function's configuration."""
    group = log_group or f"/aws/lambda/{function_name}"
    stream = place.arn("logs", f"log-group:{group}:log-stream:2026/01/01/[$LATEST]0123456789abcdef")
    requests = [
        AuthorizationRequest(action=f"logs:{action}", resource=stream)
        for action in ("CreateLogStream", "PutLogEvents")
    ]
    if tracing:
        requests += [AuthorizationRequest(action=action, resource="*") for action in XRAY_ACTIONS]
    for queue in queue_arns:
        requests += [AuthorizationRequest(action=action, resource=queue) for action in SQS_SOURCE_ACTIONS]
    if in_vpc:
        requests += [AuthorizationRequest(action=action, resource="*") for action in VPC_ACTIONS]
    return requests
