"""Which API the CLI talks to, and with which key.

In order: ``--local`` (the running ``python -m local serve``, from its state file), ``--url`` /
``--api-key``, the environment (``SEQSERVE_URL``, ``SEQSERVE_API_KEY``), and last the deployed stacks'
outputs (CloudFormation DescribeStacks on the service stack; the key's value from API Gateway).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_STACK = "seqserve-service"


class CliError(Exception):
    """One line telling the user what to fix; the CLI prints it and exits non-zero."""


@dataclass(frozen=True, kw_only=True)
class Target:
    url: str
    api_key: str | None = None
    # The local stack's embedded AWS endpoint (for train), or None for the real AWS.
    aws_url: str | None = None


def local_target() -> Target:
    from seqserve_cli.local_state import read_state, state_path

    state = read_state()
    if state is None:
        raise CliError(
            f"no local stack is running (no live {state_path()}); start one with `python -m local serve` "
            "(or `make serve`), or give --url"
        )
    return Target(url=state["api"].rstrip("/"), api_key=state.get("api_key"), aws_url=state.get("aws"))


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    try:
        described = cloudformation.describe_stacks(StackName=stack)
    except Exception as error:  # botocore's ClientError and its connection errors alike
        raise CliError(
            f"could not read the outputs of stack {stack!r} ({error}); deploy it, pass --stack, "
            "or give --url and --api-key (or SEQSERVE_URL / SEQSERVE_API_KEY)"
        ) from None
    outputs = described["Stacks"][0].get("Outputs", [])
    return {output["OutputKey"]: output["OutputValue"] for output in outputs}


def output_named(outputs: dict[str, str], pattern: str, what: str, stack: str) -> str:
    """The one output whose key matches ``pattern`` (CDK adds a hash to nested output keys)."""
    found = [value for key, value in outputs.items() if re.fullmatch(pattern, key)]
    if len(found) != 1:
        raise CliError(f"stack {stack!r} has no output for {what}; is it a seqserve service stack?")
    return found[0]


def deployed_target(*, session: Any, stack: str, api_key: str | None) -> Target:
    outputs = stack_outputs(session.client("cloudformation"), stack)
    url = output_named(outputs, r"ApiUrl[0-9A-F]*", "the API URL", stack)
    if api_key is None:
        key_ids = [value for key, value in outputs.items() if re.fullmatch(r"ApiApiKeyId[0-9A-F]*", key)]
        if key_ids:
            answer = session.client("apigateway").get_api_key(apiKey=key_ids[0], includeValue=True)
            api_key = answer["value"]
    return Target(url=url.rstrip("/"), api_key=api_key)


def resolve_target(*, local: bool, url: str | None, api_key: str | None, stack: str, session: Any) -> Target:
    if local:
        return local_target()
    url = url or os.environ.get("SEQSERVE_URL")
    api_key = api_key or os.environ.get("SEQSERVE_API_KEY")
    if url:
        if not re.match(r"^https?://", url):
            raise CliError(f"--url {url!r} is not an http(s) URL")
        return Target(url=url.rstrip("/"), api_key=api_key)
    return deployed_target(session=session(), stack=stack, api_key=api_key)
