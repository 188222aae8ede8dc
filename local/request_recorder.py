"""Records every AWS call a Lambda worker makes as the IAM requests it needs (local/iam_actions.py).

Installed by ``local.lambda_worker`` on the boto3 default session before the handler module is
imported (as the injected faults are), so not one line of Lambda code changes. The hook sits on
``before-parameter-build``: once per API call (not per retry), with the call's own parameters. Each
call becomes one JSON line: the function, the call, and its requests with their condition context:
the request's tags and, looked up in the embedded AWS before the call runs, the tags of the resource it
acts on (a DeleteEndpoint's endpoint still exists then). The lookups use a session of their own, so
they are neither recorded nor faulted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from .iam_actions import AuthorizationRequest, Place, call_requests, unique

# local.aws's account (moto's default); not imported from there, which would load moto into the worker.
ACCOUNT_ID = "123456789012"


class Recorder:
    def __init__(self, *, path: str, function: str, place: Place) -> None:
        self._path = path
        self._function = function
        self._place = place
        self._sagemaker: Any = None

    def _lookup_client(self) -> Any:
        if self._sagemaker is None:
            import botocore.session

            # A fresh botocore session: none of the default session's hooks (this one, the faults).
            self._sagemaker = botocore.session.Session().create_client(
                "sagemaker", region_name=self._place.region
            )
        return self._sagemaker

    def _resource_tags(self, arn: str) -> dict[str, str]:
        if ":sagemaker:" not in arn:
            # The app's tag conditions are all on SageMaker resources.
            return {}
        from botocore.exceptions import ClientError

        try:
            tags = self._lookup_client().list_tags(ResourceArn=arn)["Tags"]
        except ClientError:
            # The resource does not exist (yet, or any more): it has no tags to match.
            return {}
        return {tag["Key"]: tag["Value"] for tag in tags}

    def _config_key(self, name: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            return self._lookup_client().describe_endpoint_config(EndpointConfigName=name).get("KmsKeyId")
        except ClientError:
            return None

    def _entry(self, request: AuthorizationRequest) -> dict[str, Any]:
        tags = self._resource_tags(request.resource_tags_of) if request.resource_tags_of else {}
        return {
            "action": request.action,
            "resource": request.resource,
            "context": request.condition_context(tags),
        }

    def on_call(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        record: dict[str, Any] = {"function": self._function, "call": f"{service}.{operation}"}
        try:
            found = call_requests(
                service=service,
                operation=operation,
                params=params,
                place=self._place,
                config_key=self._config_key,
            )
            record["requests"] = [self._entry(request) for request in unique(found)]
        # Reported by the evaluation, never to the handler.
        except Exception as error:
            record["error"] = f"{type(error).__name__}: {error}"
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        # One write on an O_APPEND descriptor: the lines of concurrent workers do not interleave.
        descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)


def install_default_session(path: str) -> Recorder:
    """Record the calls of every client of boto3's default session: call before the handler's import."""
    import boto3

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    if session is None:
        raise RuntimeError("boto3 has no default session to record")
    place = Place(account=ACCOUNT_ID, region=session.region_name or os.environ["AWS_REGION"])
    recorder = Recorder(path=path, function=os.environ["AWS_LAMBDA_FUNCTION_NAME"], place=place)
    session.events.register("before-parameter-build", recorder.on_call)
    return recorder


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path) as lines:
        return [json.loads(line) for line in lines if line.strip()]
