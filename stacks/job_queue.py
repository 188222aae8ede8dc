"""Queued predictions on AWS: the jobs queue and its dead-letter queue, the job runner's event source,
the grants each function needs, and an alarm when a message reaches the dead-letter queue.

SQS rather than the reconciler: a job runs as soon as its endpoint is in service (the runner's backoff
is seconds, the reconciler's period minutes), SQS gives at-least-once delivery and a dead-letter queue
for free, and the runner's partial batch responses keep each job's retries independent.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.jobs_environment import JOB_BATCH_SIZE, JOB_VISIBILITY_SECONDS, JobRetry, jobs_environment
from stacks.storage import JOB_DAYS, JOBS_PREFIX

DEFAULT_RETRY = JobRetry()


class JobQueue(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        invoker: lambda_.Function,
        runner: lambda_.Function,
        state_table: dynamodb.ITableV2,
        jobs_table: dynamodb.ITableV2,
        bucket: s3.IBucket,
        topic: sns.ITopic,
        retry: JobRetry = DEFAULT_RETRY,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Jobs",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(JOB_VISIBILITY_SECONDS),
            retention_period=Duration.days(JOB_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letters, max_receive_count=retry.dead_letter_after
            ),
        )
        environment = jobs_environment(
            table_name=jobs_table.table_name,
            bucket_name=bucket.bucket_name,
            queue_url=self.queue.queue_url,
            retry=retry,
        )
        for name, value in environment.items():
            runner.add_environment(name, value)
            if not name.startswith("JOB_"):
                invoker.add_environment(name, value)
        runner.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=JOB_BATCH_SIZE, report_batch_item_failures=True)
        )
        objects = f"{JOBS_PREFIX}*"
        # Invoker: store a job's inputs and item (+1 on the state item's counter), queue it, read results.
        bucket.grant_put(invoker, objects)
        bucket.grant_read(invoker, objects)
        jobs_table.grant(invoker, "dynamodb:PutItem", "dynamodb:GetItem")
        self.queue.grant_send_messages(invoker)
        # Runner: read inputs, write results, move jobs (and the counter), back off its messages.
        bucket.grant_read(runner, objects)
        bucket.grant_put(runner, objects)
        jobs_table.grant(runner, "dynamodb:GetItem", "dynamodb:UpdateItem")
        state_table.grant(runner, "dynamodb:GetItem", "dynamodb:UpdateItem")
        self.queue.grant_consume_messages(runner)
        self.alarm = cloudwatch.Alarm(
            self,
            "DeadLetterAlarm",
            alarm_description="a queued prediction's message reached the dead-letter queue: its runs crashed",
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(actions.SnsAction(topic))
