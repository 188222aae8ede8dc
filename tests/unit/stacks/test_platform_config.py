"""Platform options in the deployment config: tags, network, KMS key, config retention, awake limit."""

from __future__ import annotations

import pytest

from stacks.config import ConfigError, parse_deployment

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/12345678-1234-1234-1234-123456789012"
VPC = {"subnet_ids": ["subnet-0123abcd", "subnet-0123456789abcdef0"], "security_group_ids": ["sg-0123abcd"]}


def deployment(model: dict | None = None, **top) -> dict:
    return {"models": {"circrna": {"preset": "circrna", **(model or {})}}, **top}


def test_platform_options_default_off():
    config = parse_deployment(deployment())
    assert dict(config.tags) == {}
    assert (config.network.in_vpc, config.kms_key_arn) == (False, None)
    serving = config.models[0].serving
    assert (serving.keep_configs, serving.max_awake_hours_per_day) == (3, None)


def test_platform_options_parse():
    config = parse_deployment(
        deployment(
            {"serving": {"keep_configs": 5, "max_awake_hours_per_day": 6}},
            tags={"team": "genomics", "cost-center": "CC 1234/x"},
            network={**VPC, "isolation": False},
            kms_key_arn=KEY_ARN,
            env={"region": "eu-west-1"},
        )
    )
    assert dict(config.tags) == {"team": "genomics", "cost-center": "CC 1234/x"}
    assert config.network.subnet_ids == ("subnet-0123abcd", "subnet-0123456789abcdef0")
    assert config.network.security_group_ids == ("sg-0123abcd",)
    assert config.network.in_vpc
    assert config.kms_key_arn == KEY_ARN
    serving = config.models[0].serving
    assert (serving.keep_configs, serving.max_awake_hours_per_day) == (5, 6)
    with pytest.raises(TypeError):
        config.tags["team"] = "other"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (deployment(tags=["team"]), "tags: expected an object, got list"),
        (deployment(tags={"aws:owner": "x"}), "tags.aws:owner: the prefix 'aws:' is reserved"),
        (
            deployment(tags={"seqserve:deployment": "x"}),
            "tags.seqserve:deployment: seqserve:deployment is set",
        ),
        (deployment(tags={"team": 3}), "tags.team: expected a string of up to 256"),
        (deployment(tags={"team": "a;b"}), "tags.team: expected a string"),
        (deployment(tags={"k" * 129: "v"}), "tag keys are 1-128"),
        (
            deployment(tags={f"t{i}": "v" for i in range(50)}),
            "tags: 50 tags; AWS allows at most 50 per resource, and the app adds",
        ),
        (deployment(tags={f"t{i}": "v" * 60 for i in range(20)}), "as JSON; the invoker's environment"),
        (deployment(network={"subnet_ids": ["subnet-0123abcd"]}), "network.security_group_ids: required"),
        (deployment(network={"security_group_ids": ["sg-0123abcd"]}), "network.subnet_ids: required"),
        (deployment(network={"subnet_ids": "subnet-0123abcd"}), "network.subnet_ids: expected a list"),
        (deployment(network={**VPC, "subnet_ids": ["vpc-0123abcd"]}), "'vpc-0123abcd' is not a subnet id"),
        (deployment(network={**VPC, "security_group_ids": ["sg-1"]}), "'sg-1' is not a security group id"),
        (deployment(network={**VPC, "security_group_ids": ["sg-0123abcd"] * 2}), "lists an id twice"),
        (
            deployment(network={**VPC, "security_group_ids": [f"sg-0123abc{i}" for i in range(6)]}),
            "network.security_group_ids: 6 given; SageMaker accepts at most 5",
        ),
        (deployment(network={"isolation": "yes"}), "network.isolation: expected true or false"),
        (
            deployment({"serving": {"mode": "serverless", "model_data": "s3://bkt/m.tar.gz"}}, network=VPC),
            "network: model circrna is serverless, and SageMaker Serverless Inference does not run in a VPC",
        ),
        (deployment(network={"vpc_id": "vpc-1"}), "network.vpc_id: unknown key"),
        (deployment(kms_key_arn="alias/seqserve"), "kms_key_arn: 'alias/seqserve' is not a KMS key ARN"),
        (
            deployment(kms_key_arn="arn:aws:kms:eu-west-1:123456789012:alias/seqserve"),
            "alias ARNs are not accepted",
        ),
        (
            deployment(kms_key_arn=KEY_ARN, env={"region": "us-east-1"}),
            "kms_key_arn: the key is in eu-west-1 but env.region is us-east-1",
        ),
        (deployment({"serving": {"keep_configs": 0}}), "models.circrna.serving.keep_configs: must be from 1"),
        (
            deployment({"serving": {"max_awake_hours_per_day": 24}}),
            "models.circrna.serving.max_awake_hours_per_day: must be from 1 to 23",
        ),
        (
            deployment(
                {
                    "serving": {
                        "mode": "always_on",
                        "model_data": "s3://bkt/m.tar.gz",
                        "max_awake_hours_per_day": 4,
                    }
                }
            ),
            "max_awake_hours_per_day: only for mode 'on_demand'",
        ),
    ],
)
def test_bad_platform_options_name_the_key(context: dict, message: str):
    with pytest.raises(ConfigError) as raised:
        parse_deployment(context)
    assert message in str(raised.value)


def test_network_isolation_is_refused_saying_what_to_do_instead():
    """An isolated training job has no network for the toolkit's pip install of requirements.txt."""
    for network in ({"isolation": True}, {**VPC, "isolation": True}):
        with pytest.raises(ConfigError) as raised:
            parse_deployment(deployment(network=network))
        message = str(raised.value)
        assert message.startswith("network.isolation: true is not supported")
        assert "pip-installs model_code/requirements.txt" in message
        assert "network.subnet_ids" in message and "Deploying into a company account" in message
