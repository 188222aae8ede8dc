"""The synthesized templates as IAM sees them: each function's and state machine's role, its identity
policies with every intrinsic resolved to the local account, region and the local stack's names, and
the requests the templates themselves declare (a state machine's tasks, what Lambda does with a role).

Nothing here lists the app's functions: they are the template's ``AWS::Lambda::Function`` resources
whose handler is a module in ``lambdas/``, matched to the local stack's functions by handler. Names line
up through the functions' environment: where a variable is a reference (``STATE_TABLE: {Ref: ...}``)
and the local function has a value for it, that value is the resource's physical name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.iam_actions import (
    AuthorizationRequest,
    Place,
    lambda_service_requests,
    state_machine_requests,
    unique,
)

LAMBDA_SOURCE = Path(__file__).resolve().parents[2] / "lambdas"
# Properties that name a resource explicitly, by type (else the logical ID stands for the name).
NAME_PROPERTIES = (
    "TableName",
    "QueueName",
    "TopicName",
    "BucketName",
    "LogGroupName",
    "RoleName",
    "FunctionName",
    "EndpointName",
    "EndpointConfigName",
    "ModelName",
    "StateMachineName",
    "RepositoryName",
    "Name",
)
# A value for any JSONPath a state machine task reads: run ids are UUIDs.
PATH_SAMPLE = "0f0e0d0c-0b0a-4908-8706-050403020100"


class TemplateError(ValueError):
    """A template construct the evaluation cannot resolve; the message names it."""


@dataclass(frozen=True, kw_only=True)
class Principal:
    """A role with the identity policies attached to it in the template."""

    stack: str
    role: str
    arn: str
    policies: tuple[dict[str, Any], ...]


@dataclass(frozen=True, kw_only=True)
class TemplateFunction:
    stack: str
    logical_id: str
    handler: str
    principal: Principal
    # What Lambda does with the role (logs, traces, event sources), from the function's configuration.
    service_requests: tuple[AuthorizationRequest, ...]
    environment: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class TemplateStateMachine:
    stack: str
    logical_id: str
    principal: Principal
    # Task state name -> what the role needs for it.
    task_requests: Mapping[str, tuple[AuthorizationRequest, ...]]


@dataclass
class Templates:
    """``templates``: stack name -> template; ``names``: (stack, logical ID) -> physical name."""

    templates: Mapping[str, dict[str, Any]]
    place: Place
    names: dict[tuple[str, str], str] = field(default_factory=dict)

    # --- intrinsics -----------------------------------------------------------------------------------

    def resource(self, stack: str, logical_id: str) -> dict[str, Any]:
        try:
            return self.templates[stack]["Resources"][logical_id]
        except KeyError:
            raise TemplateError(f"{stack}: no resource {logical_id}") from None

    def name(self, stack: str, logical_id: str) -> str:
        if (stack, logical_id) in self.names:
            return self.names[(stack, logical_id)]
        properties = self.resource(stack, logical_id).get("Properties", {})
        for key in NAME_PROPERTIES:
            value = properties.get(key)
            if value is not None and not (isinstance(value, dict) and "Fn::GetAtt" in value):
                resolved = self.resolve(stack, value)
                if isinstance(resolved, str):
                    return resolved
        return logical_id

    def ref(self, stack: str, target: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.place.account,
            "AWS::Region": self.place.region,
            "AWS::Partition": self.place.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
        }
        if target in pseudo:
            return pseudo[target]
        parameters = self.templates[stack].get("Parameters", {})
        if target in parameters:
            return parameters[target].get("Default", f"<{target}>")
        kind = self.resource(stack, target)["Type"]
        name = self.name(stack, target)
        arn = self.place.arn
        by_type = {
            "AWS::SQS::Queue": f"https://sqs.{self.place.region}.amazonaws.com/{self.place.account}/{name}",
            "AWS::SNS::Topic": arn("sns", name),
            "AWS::StepFunctions::StateMachine": arn("states", f"stateMachine:{name}"),
            "AWS::SageMaker::Endpoint": arn("sagemaker", f"endpoint/{name.lower()}"),
            "AWS::SageMaker::EndpointConfig": arn("sagemaker", f"endpoint-config/{name.lower()}"),
            "AWS::SageMaker::Model": arn("sagemaker", f"model/{name.lower()}"),
        }
        return by_type.get(kind, name)

    def get_att(self, stack: str, target: str, attribute: str) -> Any:
        kind = self.resource(stack, target)["Type"]
        name = self.name(stack, target)
        arn = self.place.arn
        arns = {
            "AWS::DynamoDB::Table": lambda: arn("dynamodb", f"table/{name}"),
            "AWS::DynamoDB::GlobalTable": lambda: arn("dynamodb", f"table/{name}"),
            "AWS::SQS::Queue": lambda: arn("sqs", name),
            "AWS::S3::Bucket": lambda: arn("s3", name, regional=False),
            "AWS::Logs::LogGroup": lambda: arn("logs", f"log-group:{name}:*"),
            "AWS::IAM::Role": lambda: f"arn:{self.place.partition}:iam::{self.place.account}:role/{name}",
            "AWS::Lambda::Function": lambda: arn("lambda", f"function:{name}"),
            "AWS::KMS::Key": lambda: arn("kms", f"key/{name}"),
            "AWS::Events::Rule": lambda: arn("events", f"rule/{name}"),
            "AWS::ECR::Repository": lambda: arn("ecr", f"repository/{name}"),
            "AWS::StepFunctions::StateMachine": lambda: arn("states", f"stateMachine:{name}"),
            "AWS::SNS::Topic": lambda: arn("sns", name),
        }
        if attribute in ("Arn", "TopicArn") and kind in arns:
            return arns[kind]()
        if attribute in ("QueueName", "TopicName", "Name", "EndpointName", "EndpointConfigName", "ModelName"):
            return name
        if attribute == "QueueUrl":
            return self.ref(stack, target)
        if attribute == "RoleId":
            return f"AROA{name.upper()[:16]}"
        raise TemplateError(f"{stack}: cannot resolve Fn::GetAtt {target}.{attribute} ({kind})")

    def import_value(self, export: str) -> tuple[str, Any]:
        for stack, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                name = output.get("Export", {}).get("Name")
                if name is not None and self.resolve(stack, name) == export:
                    return stack, output["Value"]
        raise TemplateError(f"no stack exports {export!r}")

    def resolve(self, stack: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(stack, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {key: self.resolve(stack, item) for key, item in value.items()}
        [(function, argument)] = value.items()
        if function == "Ref":
            return self.ref(stack, argument)
        if function == "Fn::GetAtt":
            target, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(stack, target, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(part) for part in self.resolve(stack, parts))
        if function == "Fn::Select":
            index, items = self.resolve(stack, argument)
            return items[int(index)]
        if function == "Fn::Split":
            separator, text = self.resolve(stack, argument)
            return text.split(separator)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            variables = self.resolve(stack, variables)

            def substitute(match: re.Match[str]) -> str:
                key = match[1]
                if key in variables:
                    return str(variables[key])
                if "." in key:
                    return str(self.get_att(stack, *key.split(".", 1)))
                return str(self.ref(stack, key))

            return re.sub(r"\$\{([^}!][^}]*)\}", substitute, text)
        if function == "Fn::ImportValue":
            exporter, expression = self.import_value(self.resolve(stack, argument))
            return self.resolve(exporter, expression)
        if function == "Fn::FindInMap":
            mapping, first, second = self.resolve(stack, argument)
            return self.templates[stack]["Mappings"][mapping][first][second]
        raise TemplateError(f"{stack}: cannot resolve {function}")

    # --- names from the local stack -------------------------------------------------------------------

    def bind_environment(
        self, stack: str, template_env: Mapping[str, Any], local_env: Mapping[str, str]
    ) -> None:
        """Where a template variable is a plain reference and the local function has a value for it,
        that value names the referenced resource."""
        for variable, expression in template_env.items():
            if variable not in local_env or not isinstance(expression, dict):
                continue
            where, target = stack, expression
            if "Fn::ImportValue" in target:
                where, target = self.import_value(self.resolve(stack, target["Fn::ImportValue"]))
            if not isinstance(target, dict) or "Ref" not in target:
                continue
            logical = target["Ref"]
            if logical not in self.templates[where]["Resources"]:
                continue
            value = local_env[variable]
            kind = self.resource(where, logical)["Type"]
            if kind == "AWS::SQS::Queue":
                value = value.rstrip("/").rsplit("/", 1)[-1]
            elif kind == "AWS::SNS::Topic":
                value = value.rsplit(":", 1)[-1]
            known = self.names.setdefault((where, logical), value)
            if known != value:
                raise TemplateError(
                    f"{where}/{logical}: the local stack names it both {known!r} and {value!r} ({variable})"
                )

    # --- principals -----------------------------------------------------------------------------------

    def principal(self, stack: str, role_arn: Any) -> Principal:
        if not (isinstance(role_arn, dict) and "Fn::GetAtt" in role_arn):
            raise TemplateError(f"{stack}: role {role_arn!r} is not a role of this template")
        role = role_arn["Fn::GetAtt"][0]
        resources = self.templates[stack]["Resources"]
        properties = self.resource(stack, role).get("Properties", {})
        documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        reference = {"Ref": role}
        for logical, resource in resources.items():
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                attached = reference in resource["Properties"].get("Roles", [])
                attached = attached or {"Ref": logical} in properties.get("ManagedPolicyArns", [])
                if attached:
                    documents.append(resource["Properties"]["PolicyDocument"])
        foreign = [
            arn
            for arn in properties.get("ManagedPolicyArns", [])
            if not (isinstance(arn, dict) and "Ref" in arn)
        ]
        if foreign:
            raise TemplateError(
                f"{stack}/{role}: managed policies outside the template cannot be evaluated: {foreign}"
            )
        return Principal(
            stack=stack,
            role=role,
            arn=self.resolve(stack, role_arn),
            policies=tuple(self.resolve(stack, document) for document in documents),
        )

    def function_resources(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(stack, logical ID, properties) of the app's own functions: handler modules in lambdas/."""
        found = []
        for stack, template in self.templates.items():
            for logical, resource in template["Resources"].items():
                if resource["Type"] != "AWS::Lambda::Function":
                    continue
                module = resource["Properties"].get("Handler", "").rpartition(".")[0].replace(".", "/")
                if module and (LAMBDA_SOURCE / f"{module}.py").is_file():
                    found.append((stack, logical, resource["Properties"]))
        return found

    def functions(self) -> list[TemplateFunction]:
        """The app's functions with their roles resolved: bind the local names (bind_environment) first."""
        found = []
        for stack, logical, properties in self.function_resources():
            resources = self.templates[stack]["Resources"]
            handler = properties["Handler"]
            queues = [
                self.resolve(stack, source["Properties"]["EventSourceArn"])
                for source in resources.values()
                if source["Type"] == "AWS::Lambda::EventSourceMapping"
                and source["Properties"].get("FunctionName") == {"Ref": logical}
            ]
            log_group = properties.get("LoggingConfig", {}).get("LogGroup")
            requests = lambda_service_requests(
                log_group=None if log_group is None else self.resolve(stack, log_group),
                function_name=self.name(stack, logical),
                tracing=properties.get("TracingConfig", {}).get("Mode") == "Active",
                queue_arns=queues,
                in_vpc="VpcConfig" in properties,
                place=self.place,
            )
            found.append(
                TemplateFunction(
                    stack=stack,
                    logical_id=logical,
                    handler=handler,
                    principal=self.principal(stack, properties["Role"]),
                    service_requests=tuple(requests),
                    environment=properties.get("Environment", {}).get("Variables", {}),
                )
            )
        return found

    def state_machines(self) -> list[TemplateStateMachine]:
        found = []
        for stack, template in self.templates.items():
            for logical, resource in template["Resources"].items():
                if resource["Type"] != "AWS::StepFunctions::StateMachine":
                    continue
                properties = resource["Properties"]
                definition = json.loads(self.resolve(stack, properties["DefinitionString"]))
                tasks = {
                    state_name: tuple(
                        unique(
                            state_machine_requests(
                                state["Resource"],
                                sample_parameters(state.get("Parameters", {})),
                                place=self.place,
                            )
                        )
                    )
                    for state_name, state in task_states(definition)
                }
                found.append(
                    TemplateStateMachine(
                        stack=stack,
                        logical_id=logical,
                        principal=self.principal(stack, properties["RoleArn"]),
                        task_requests=tasks,
                    )
                )
        return found


def task_states(definition: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """Every Task state, also inside Parallel branches and Map iterators."""
    for name, state in definition.get("States", {}).items():
        if state.get("Type") == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from task_states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from task_states(state[key])


FORMAT = re.compile(r"^States\.Format\('(?P<template>[^']*)'(?P<args>(,\s*('[^']*'|\$[^,)]*))*)\)$")


def sample_value(expression: str) -> Any:
    """A value of the shape a task parameter's path or intrinsic gives at run time."""
    match = FORMAT.match(expression.strip())
    if match is not None:
        arguments = re.findall(r"'([^']*)'|(\$[^,)\s]*)", match["args"])
        values = [literal if literal else PATH_SAMPLE for literal, _path in arguments]
        return match["template"].replace("{}", "%s") % tuple(values)
    return PATH_SAMPLE


def sample_parameters(parameters: Any) -> Any:
    """Parameters with every ``X.$`` replaced by ``X`` and a sample value."""
    if isinstance(parameters, list):
        return [sample_parameters(item) for item in parameters]
    if not isinstance(parameters, dict):
        return parameters
    sampled: dict[str, Any] = {}
    for key, value in parameters.items():
        if key.endswith(".$") and isinstance(value, str):
            sampled[key[:-2]] = sample_value(value)
        else:
            sampled[key] = sample_parameters(value)
    return sampled
