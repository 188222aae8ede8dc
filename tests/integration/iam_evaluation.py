"""Evaluates IAM requests against identity policies with a real policy evaluator.

The evaluator is ``@cloud-copilot/iam-simulate`` (npm, a devDependency in package.json), run by
``iam_simulate.cjs`` in one Node process per evaluation. Why it and not the others:

- moto's IAM access control (``moto.iam.access_control``, moto 5.2) evaluates only ``StringEquals``
  conditions, treats every other operator as met, ignores a missing context key, and answers a
  statement whose condition does not match with an explicit DENY instead of not applying it. The app's
  tag conditions (``aws:ResourceTag/...``, ``aws:RequestTag/...``, ``ForAllValues:StringEquals`` on
  ``aws:TagKeys``, ``Bool`` on ``kms:GrantIsForAWSResource``) would be judged wrongly both ways.
- No maintained Python package evaluates IAM policies (policy_sentry and parliament describe and lint
  them; they do not decide a request).
- iam-simulate implements AWS's evaluation logic (explicit deny, then allow, else implicit deny) with
  every condition operator, set operators and ``...IfExists``, wildcards in actions and resources, and
  it validates each request: the action must exist, the resource ARN must be of a type the action
  takes, and the context keys must be ones the action supports. A request this module builds wrongly is
  reported as an error, not silently allowed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .iam_template import Principal


def default_key_policy(account: str) -> dict[str, Any]:
    """KMS authorizes a key's use only if its key policy allows it; the platform key is the company's
    (``kms_key_arn``), so its policy is assumed to be the default one, which leaves access to IAM
    policies ("Default key policy",
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


RUNNER = Path(__file__).resolve().with_name("iam_simulate.cjs")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, kw_only=True)
class Check:
    """One request of one caller: ``who`` names the function or state machine task, ``call`` the API
    call (or what the platform does) that needs it."""

    who: str
    call: str
    principal: Principal
    action: str
    resource: str
    context: Mapping[str, Any]

    def key(self) -> tuple[str, str, str, str]:
        return (self.principal.arn, self.action, self.resource, json.dumps(self.context, sort_keys=True))


@dataclass(frozen=True, kw_only=True)
class Finding:
    check: Check
    result: str
    errors: Any = None

    def __str__(self) -> str:
        check = self.check
        context = f" with {dict(check.context)}" if check.context else ""
        detail = f": {json.dumps(self.errors)[:400]}" if self.errors else ""
        return (
            f"{check.who} ({check.call}): {self.result} {check.action} on {check.resource}{context}{detail}"
        )


def simulate(checks: Sequence[Check]) -> list[tuple[str, Any]]:
    """The evaluator's result and validation errors for each check, in order; identical requests are
    evaluated once."""
    unique: dict[tuple[str, str, str, str], int] = {}
    principals: dict[str, dict[str, Any]] = {}
    requests: list[dict[str, Any]] = []
    for check in checks:
        if check.key() in unique:
            continue
        unique[check.key()] = len(requests)
        principal = check.principal
        principals[principal.arn] = {
            "arn": principal.arn,
            "account": principal.arn.split(":")[4],
            "policies": list(principal.policies),
        }
        request = {
            "principal": principal.arn,
            "action": check.action,
            "resource": check.resource,
            "context": check.context,
        }
        if check.action.startswith("kms:"):
            request["resourcePolicy"] = default_key_policy(principal.arn.split(":")[4])
        requests.append(request)
    answer = subprocess.run(
        ["node", str(RUNNER)],
        input=json.dumps({"principals": principals, "requests": requests}),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=300,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"iam_simulate.cjs failed ({answer.returncode}): {answer.stderr[-2000:]}")
    results = json.loads(answer.stdout)
    return [(results[unique[c.key()]]["result"], results[unique[c.key()]]["errors"]) for c in checks]


def findings(checks: Iterable[Check]) -> list[Finding]:
    """Every check that is not allowed: implicitly or explicitly denied, or not a valid request."""
    checks = list(checks)
    return [
        Finding(check=check, result=result, errors=errors)
        for check, (result, errors) in zip(checks, simulate(checks), strict=True)
        if result != "Allowed"
    ]
