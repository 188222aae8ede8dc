"""Helpers for the Lambda tests: moto-backed AWS, a controllable clock, a fake sagemaker-runtime."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

REGION = "us-east-1"
TABLE = "seqserve-state"
CONFIG = "circrna-config-1"
# DEPLOYMENT_NAME of the tests' deployment: the value of its endpoints' seqserve:deployment tag.
DEPLOYMENT = "seqserve-service"
OWN_TAGS = [{"Key": "seqserve:deployment", "Value": DEPLOYMENT}]
START = 1_800_000_000.0
MODELS = {
    "circrna": {
        "preset": "circrna",
        "mode": "on_demand",
        "endpoint_name": "circrna-endpoint",
        "endpoint_config_name": CONFIG,
        "idle_minutes": 15,
    },
    "entailment": {
        "preset": "entailment",
        "mode": "on_demand",
        "endpoint_name": "entailment-endpoint",
        "endpoint_config_name": None,
        "idle_minutes": 5,
    },
    "medical": {
        "preset": "medical-specialty",
        "mode": "always_on",
        "endpoint_name": "medical-endpoint",
        "endpoint_config_name": "medical-config",
        "idle_minutes": 15,
    },
}
PREDICTION = [{"label": "circRNA", "score": 0.9}]


class Clock:
    """Time the tests move by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Aws:
    """moto's AWS for one module of tests: clients made once (each costs ~70 ms), state reset per test."""

    sagemaker: Any
    dynamodb: Any
    events: Any
    sns: Any
    sqs: Any
    runtime: Any
    topic_arn: str = ""
    queue_url: str = ""
    created: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def connect(cls) -> Aws:
        clients = {
            name: boto3.client(service, region_name=REGION)
            for name, service in (
                ("sagemaker", "sagemaker"),
                ("dynamodb", "dynamodb"),
                ("events", "events"),
                ("sns", "sns"),
                ("sqs", "sqs"),
                ("runtime", "sagemaker-runtime"),
            )
        }
        aws = cls(**clients)
        aws.count_creates(aws.sagemaker)
        return aws

    def count_creates(self, client: Any) -> Any:
        """moto replaces an existing endpoint silently, so CreateEndpoint calls are counted here."""

        def counted(params: dict[str, Any], **_: Any) -> None:
            with self._lock:
                self.created.append(params["EndpointName"])

        client.meta.events.register("provide-client-params.sagemaker.CreateEndpoint", counted)
        return client

    def provision(self) -> None:
        """What the CDK app deploys: the state table, endpoint configurations and the topic."""
        self.created.clear()
        self.dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "model", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.sagemaker.create_model(
            ModelName="circrna-model",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
            PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/seqserve:latest"},
        )
        for config in (CONFIG, "medical-config"):
            self.sagemaker.create_endpoint_config(
                EndpointConfigName=config,
                ProductionVariants=[
                    {
                        "VariantName": "main",
                        "ModelName": "circrna-model",
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                    }
                ],
            )
        self.topic_arn = self.sns.create_topic(Name="seqserve-lifecycle")["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName="notices")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def item(self, model: str) -> dict[str, Any]:
        return self.dynamodb.get_item(TableName=TABLE, Key={"model": {"S": model}}, ConsistentRead=True).get(
            "Item", {}
        )

    def state_of(self, model: str) -> str | None:
        return self.item(model).get("state", {}).get("S")

    def put_state(self, model: str, **attributes: Any) -> None:
        item: dict[str, Any] = {"model": {"S": model}}
        for key, value in attributes.items():
            item[key] = {"N": repr(value)} if isinstance(value, (int, float)) else {"S": value}
        self.dynamodb.put_item(TableName=TABLE, Item=item)

    def create_endpoint(self, name: str, config: str = CONFIG, *, tags: list | None = None) -> None:
        """An endpoint as this deployment creates it (with its ownership tag), unless ``tags`` is given."""
        self.sagemaker.create_endpoint(
            EndpointName=name, EndpointConfigName=config, Tags=OWN_TAGS if tags is None else tags
        )
        self.created.clear()

    def tags_of(self, name: str) -> dict[str, str]:
        arn = self.sagemaker.describe_endpoint(EndpointName=name)["EndpointArn"]
        return {t["Key"]: t["Value"] for t in self.sagemaker.list_tags(ResourceArn=arn)["Tags"]}

    def endpoint_exists(self, name: str) -> bool:
        try:
            self.sagemaker.describe_endpoint(EndpointName=name)
        except ClientError:
            return False
        return True

    def notifications(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


class RawBody(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def http_response(status: int, body: object, *, error_type: str | None = None) -> AWSResponse:
    return raw_response(status, json.dumps(body).encode(), error_type=error_type)


def raw_response(status: int, data: bytes, *, error_type: str | None = None) -> AWSResponse:
    headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
    if error_type:
        headers["x-amzn-ErrorType"] = f"{error_type}:http://internal.amazon.com/coral/com.amazon.sagemaker/"
    return AWSResponse("https://runtime.sagemaker.us-east-1.amazonaws.com", status, headers, RawBody(data))


def model_error(status: int, original: str) -> AWSResponse:
    """What SageMaker returns when the container answers non-2xx (ModelError, HTTP 424)."""
    return http_response(
        424,
        {
            "ErrorCode": "CLIENT_ERROR_FROM_MODEL" if status < 500 else "SERVER_ERROR_FROM_MODEL",
            "Message": f"Received error ({status}) from primary with message {original!r}.",
            "OriginalStatusCode": status,
            "OriginalMessage": original,
            "LogStreamArn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/x",
        },
        error_type="ModelError",
    )


class FakeRuntime:
    """Plays sagemaker-runtime over HTTP responses botocore parses as it would real ones.

    Like the real service, it answers only while the endpoint exists in (moto's) SageMaker and is
    InService; otherwise ValidationError "not found". ``answer`` decides the container's reply, and
    ``fault`` replaces the whole reply (an AWSResponse, or an exception to raise).
    """

    def __init__(self, *, sagemaker: Any, client: Any) -> None:
        self.sagemaker = sagemaker
        self.client = client
        self.reset()
        client.meta.events.register_first("before-send.sagemaker-runtime.InvokeEndpoint", self._send)

    def reset(self) -> None:
        self.answer: Callable[[bytes], AWSResponse] = lambda body: http_response(200, PREDICTION)
        self.fault: AWSResponse | Exception | None = None
        self.bodies: list[bytes] = []

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        if isinstance(self.fault, Exception):
            raise self.fault
        if self.fault is not None:
            return self.fault
        name = unquote(request.url.split("/endpoints/")[1].split("/")[0])
        try:
            status = self.sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"]
        except ClientError:
            status = None
        if status != "InService":
            message = f"Endpoint {name} of account 123456789012 not found."
            return http_response(400, {"Message": message}, error_type="ValidationError")
        self.bodies.append(request.body)
        return self.answer(request.body)


@dataclass
class Context:
    function_name: str = "invoker"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:invoker"
    aws_request_id: str = "request-1"
    remaining_millis: int = 120_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def api_event(
    method: str, path: str, body: str | bytes | None = None, *, base64_encoded: bool = False
) -> dict[str, Any]:
    if isinstance(body, bytes):
        body, base64_encoded = base64.b64encode(body).decode(), True
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "X-Amzn-Trace-Id": "Root=1-abc"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": base64_encoded,
        "requestContext": {
            "requestId": "corr-123",
            "stage": "prod",
            "httpMethod": method,
            "path": f"/prod{path}",
            "resourcePath": path,
        },
    }


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def call(app: Any, method: str, path: str, body: str | bytes | None = None) -> Answer:
    response = app.resolve(api_event(method, path, body), Context())
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ", ".join(values)
    return Answer(response["statusCode"], headers, json.loads(response["body"]) if response["body"] else None)
