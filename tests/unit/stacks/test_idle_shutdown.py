"""The idle-check schedule and the notification topic."""

from __future__ import annotations

from tests.unit.stacks.template_text import logical_id_of


def test_rule_runs_the_idle_checker_at_the_shortest_on_demand_interval(full):
    template = full.service.to_json()
    (rule,) = full.service.find_resources("AWS::Events::Rule").values()
    properties = rule["Properties"]
    # circrna checks every 5 minutes, aptamers every 2: the one rule serves both.
    assert properties["ScheduleExpression"] == "rate(2 minutes)"
    assert properties["Name"] == "seqserve-service-idle-check"
    assert properties["State"] == "ENABLED"
    (target,) = properties["Targets"]
    checker = logical_id_of(template, "AWS::Lambda::Function", "Functions/IdleChecker/Resource")
    assert target["Arn"] == {"Fn::GetAtt": [checker, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    full.service.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [checker, "Arn"]},
        },
    )


def test_default_check_interval_comes_from_the_model(iam_app):
    (rule,) = iam_app.service.find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["Properties"]["Name"] == "iamauth-service-idle-check"


def test_topic_is_encrypted_with_a_rotated_key_tls_only_and_mailed(full):
    template = full.service.to_json()
    (topic_id,) = full.service.find_resources("AWS::SNS::Topic")
    key_id = template["Resources"][topic_id]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = template["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    alarms = [s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "CloudWatchAlarmsPublish"]
    assert alarms and alarms[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    (policy,) = full.service.find_resources("AWS::SNS::TopicPolicy").values()
    deny = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    full.service.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": {"Ref": topic_id}},
    )


def test_no_subscription_without_an_email(iam_app):
    iam_app.service.resource_count_is("AWS::SNS::Subscription", 0)
