"""Reading CloudFormation values in tests: intrinsic functions rendered as readable text."""

from __future__ import annotations

import json
from typing import Any


def text(value: Any) -> str:
    """``{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}]]}`` -> ``arn:${AWS::Partition}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((name, arg),) = value.items()
        if name == "Fn::Join":
            return arg[0].join(text(part) for part in arg[1])
        if name == "Ref":
            return "${" + arg + "}"
        if name == "Fn::GetAtt":
            return "${" + ".".join(arg if isinstance(arg, list) else [arg]) + "}"
        if name == "Fn::ImportValue":
            return "${Import:" + text(arg) + "}"
        if name == "Fn::FindInMap":
            return "${Map:" + ".".join(text(a) for a in arg) + "}"
        if name == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
        if name == "Fn::Select":
            return "${Select:" + str(arg[0]) + ":" + text(arg[1]) + "}"
        if name == "Fn::Split":
            return "${Split:" + arg[0] + ":" + text(arg[1]) + "}"
    return json.dumps(value, sort_keys=True)


def statements(template: dict, role_logical_id: str) -> list[dict]:
    """Every policy statement attached to a role by AWS::IAM::Policy resources of the template."""
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        roles = resource["Properties"].get("Roles", [])
        if {"Ref": role_logical_id} in roles:
            found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def actions_on(statements_: list[dict]) -> dict[str, set[str]]:
    """action (lowercase: IAM actions are case-insensitive) -> the resources (as text) it is allowed on."""
    allowed: dict[str, set[str]] = {}
    for statement in statements_:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            allowed.setdefault(action.lower(), set()).update(text(r) for r in as_list(statement["Resource"]))
    return allowed


def logical_id_of(template: dict, resource_type: str, path_part: str) -> str:
    """The one logical ID of that type whose CDK path contains ``path_part``."""
    matches = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
        and path_part in resource.get("Metadata", {}).get("aws:cdk:path", "")
    ]
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} {resource_type} resources with {path_part!r} in their path")
    return matches[0]


def state_machine_definition(template: dict, path_part: str) -> dict:
    """The parsed ASL of the state machine whose CDK path contains ``path_part``."""
    logical_id = logical_id_of(template, "AWS::StepFunctions::StateMachine", path_part)
    return json.loads(text(template["Resources"][logical_id]["Properties"]["DefinitionString"]))
