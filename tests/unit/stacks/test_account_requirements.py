"""What the deployed roles and resources need from the account (issue 20): logs, Step Functions' .sync
integration and log delivery, the always_on evaluation route, Lambda's 4 KB environment."""

from __future__ import annotations

import fnmatch

import pytest

from stacks.config import ConfigError
from stacks.lambda_environment import LAMBDA_ENVIRONMENT_BYTES
from tests.unit.stacks.conftest import build
from tests.unit.stacks.template_text import actions_on, logical_id_of, statements, text

LOGS = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"


def role_actions(template: dict, path_part: str) -> dict[str, set[str]]:
    return actions_on(statements(template, logical_id_of(template, "AWS::IAM::Role", path_part)))


def test_execution_role_may_create_and_write_the_training_jobs_log_group_itself(full):
    """SageMaker logs every job to the one group /aws/sagemaker/TrainingJobs, stream <job>/algo-N."""
    allowed = role_actions(full.service.to_json(), "Model-circrna/ExecutionRole/Role")
    group = f"{LOGS}/aws/sagemaker/TrainingJobs"
    assert group in allowed["logs:createloggroup"]
    assert group in allowed["logs:describelogstreams"]
    for action in ("logs:createlogstream", "logs:putlogevents"):
        assert f"{group}:*" in allowed[action], action
        assert f"{LOGS}/aws/sagemaker/Endpoints/*" in allowed[action], action


def test_sync_training_may_read_the_jobs_tags(full):
    """Step Functions' generated policy for createTrainingJob.sync grants sagemaker:ListTags on *."""
    allowed = role_actions(full.service.to_json(), "Model-circrna/Training/StateMachine/Role")
    assert allowed["sagemaker:listtags"] == {"*"}


def test_state_machine_log_groups_are_vended_logs(full):
    """Outside /aws/vendedlogs/, each group would grow the account's 5,120-character logs policy."""
    template = full.service.to_json()
    machines = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert len(machines) == 4
    names = set()
    for machine in machines:
        (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
        arn = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]
        logical_id = arn["Fn::GetAtt"][0]
        name = template["Resources"][logical_id]["Properties"]["LogGroupName"]
        assert name.startswith("/aws/vendedlogs/states/seqserve-service-"), name
        names.add(name)
    assert len(names) == 4


def test_always_on_evaluation_may_describe_the_model_cloudformation_created(full):
    """The evaluation route reads endpoint config -> model: the grant must match the real names."""
    template = full.service.to_json()
    allowed = role_actions(template, "Functions/InvokerRole")
    for kind, resource_type in (
        ("model", "AWS::SageMaker::Model"),
        ("endpoint-config", "AWS::SageMaker::EndpointConfig"),
    ):
        action = "sagemaker:describemodel" if kind == "model" else "sagemaker:describeendpointconfig"
        patterns = [text(r).split(f":{kind}/", 1)[1] for r in allowed[action] if f":{kind}/" in text(r)]
        names = [
            r["Properties"]["ModelName" if kind == "model" else "EndpointConfigName"]
            for r in template["Resources"].values()
            if r["Type"] == resource_type
        ]
        assert len(names) == 3
        for name in names:
            assert any(fnmatch.fnmatchcase(name, p) for p in patterns), (name, patterns)
    # A training run of always_on's pipeline names its model <base>-<run uuid>, the same base.
    assert any(
        fnmatch.fnmatchcase("seqserve-service-specialty-0c5f", p.split(":model/")[-1])
        for p in allowed["sagemaker:describemodel"]
    )


def test_lambda_environment_is_checked_as_finally_deployed(tmp_path):
    """MODELS and the shared variables fit (about 3.3 KB); the jobs' variables and TAGS, which other
    constructs add to the invoker later, take it over 4 KB: synth must refuse."""
    tz = "America/Argentina/Buenos_Aires"
    windows = [
        {"days": day, "from": f"{hour:02d}:00", "to": f"{hour + 1:02d}:00", "tz": tz}
        for day in ("mon", "tue", "wed")
        for hour in range(6, 10)
    ]
    models = {
        f"model-{i}-{'x' * 20}": {"preset": "circrna", "serving": {"keep_warm": windows}} for i in range(2)
    }
    tags = {f"t{i:02d}": "v" * 34 for i in range(20)}
    with pytest.raises(ConfigError) as raised:
        build({"prefix": "envcheck", "models": models, "tags": tags}, tmp_path)
    message = str(raised.value)
    assert message.startswith("models: 2 models make the Invoker function's environment")
    assert f"limit of {LAMBDA_ENVIRONMENT_BYTES} bytes" in message
    assert "largest variables: MODELS, TAGS" in message
