"""Queued predictions in the templates: queue and dead-letter queue, the runner's event source, the jobs
table and prefix, least-privilege grants and the dead-letter alarm."""

from __future__ import annotations

from aws_cdk.assertions import Match

from stacks.jobs_environment import (
    JOB_BATCH_SIZE,
    JOB_RUNNER_TIMEOUT_SECONDS,
    JOB_VISIBILITY_SECONDS,
    JobRetry,
)
from tests.unit.stacks.template_text import actions_on, logical_id_of, statements, text


def queues(built) -> dict[str, dict]:
    template = built.service.to_json()
    return {
        "jobs": template["Resources"][logical_id_of(template, "AWS::SQS::Queue", "JobQueue/Jobs/Resource")],
        "dead": template["Resources"][
            logical_id_of(template, "AWS::SQS::Queue", "JobQueue/DeadLetters/Resource")
        ],
    }


def role_permissions(built, name: str) -> dict[str, set[str]]:
    template = built.service.to_json()
    return actions_on(
        statements(template, logical_id_of(template, "AWS::IAM::Role", f"Functions/{name}Role"))
    )


def test_queues_are_encrypted_with_a_dead_letter_redrive_past_the_runners_own_bound(full):
    found = queues(full)
    dead_id = logical_id_of(full.service.to_json(), "AWS::SQS::Queue", "JobQueue/DeadLetters/Resource")
    for queue in found.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    jobs = found["jobs"]["Properties"]
    assert jobs["VisibilityTimeout"] == JOB_VISIBILITY_SECONDS >= 6 * JOB_RUNNER_TIMEOUT_SECONDS
    assert jobs["RedrivePolicy"]["maxReceiveCount"] == JobRetry().dead_letter_after > JobRetry().max_attempts
    assert jobs["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dead_id, "Arn"]}


def test_both_queues_refuse_plain_http(full):
    policies = full.service.find_resources("AWS::SQS::QueuePolicy")
    denied = [
        statement
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denied) == 2


def test_runner_reads_the_queue_in_small_batches_reporting_partial_failures(full):
    template = full.service.to_json()
    runner = logical_id_of(template, "AWS::Lambda::Function", "Functions/JobRunner/Resource")
    jobs = logical_id_of(template, "AWS::SQS::Queue", "JobQueue/Jobs/Resource")
    full.service.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": runner},
            "EventSourceArn": {"Fn::GetAtt": [jobs, "Arn"]},
            "BatchSize": JOB_BATCH_SIZE,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    properties = template["Resources"][runner]["Properties"]
    assert properties["Handler"] == "job_runner.handler.handler"
    assert properties["Timeout"] == JOB_RUNNER_TIMEOUT_SECONDS
    environment = properties["Environment"]["Variables"]
    assert {"JOBS_TABLE", "JOBS_BUCKET", "JOBS_QUEUE_URL", "JOB_MAX_ATTEMPTS", "MODELS"} <= set(environment)
    assert environment["JOB_MAX_ATTEMPTS"] == str(JobRetry().max_attempts)
    invoker = template["Resources"][
        logical_id_of(template, "AWS::Lambda::Function", "Functions/Invoker/Resource")
    ]
    assert {"JOBS_TABLE", "JOBS_BUCKET", "JOBS_QUEUE_URL"} <= set(
        invoker["Properties"]["Environment"]["Variables"]
    )


def test_invoker_stores_and_queues_jobs_and_the_runner_consumes_them(full):
    invoker = role_permissions(full, "Invoker")
    runner = role_permissions(full, "JobRunner")
    assert "sqs:sendmessage" in invoker and "sqs:receivemessage" not in invoker
    assert {"sqs:receivemessage", "sqs:deletemessage", "sqs:changemessagevisibility"} <= set(runner)
    assert "sqs:sendmessage" not in runner
    assert any(r.endswith("/jobs/*") for r in invoker["s3:putobject"])
    assert all(r.endswith("/jobs/*") for r in invoker["s3:putobject"])
    assert all(r.endswith("/jobs/*") for r in runner["s3:putobject"])
    assert "s3:deleteobject*" not in invoker and "s3:deleteobject*" not in runner
    assert "dynamodb:putitem" in invoker and "dynamodb:putitem" not in runner
    assert any("JobsTable" in r for r in runner["dynamodb:updateitem"])
    assert any("StateTable" in r for r in runner["dynamodb:updateitem"])
    # The runner calls and wakes endpoints, as the invoker does, and may not delete them.
    assert {"sagemaker:invokeendpoint", "sagemaker:createendpoint", "sagemaker:describeendpoint"} <= set(
        runner
    )
    assert "sagemaker:deleteendpoint" not in runner


def test_jobs_table_expires_items_and_the_bucket_expires_job_objects(full):
    full.stateful.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        },
    )
    rules = full.stateful.to_json()["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    [rule] = [r for r in rules if r["Id"] == "expire-jobs"]
    assert (rule["Prefix"], rule["ExpirationInDays"]) == ("jobs/", 8)


def test_a_message_in_the_dead_letter_queue_alarms_the_topic(full):
    template = full.service.to_json()
    dead = logical_id_of(template, "AWS::SQS::Queue", "JobQueue/DeadLetters/Resource")
    full.service.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Namespace": "AWS/SQS",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dead, "QueueName"]}}],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": Match.any_value(),
        },
    )
    assert text({"Ref": "x"}) == "${x}"
