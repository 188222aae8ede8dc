"""The stateful resources: data and artifact bucket, serving image repository, endpoint state table.

They outlive any redeploy of the service stack, so each is retained and keeps a pinned logical ID
(renaming a construct must not replace the bucket holding every trained model).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

# Prefixes inside the bucket; the training pipeline and the README use the same ones.
DATA_PREFIX = "data/"
ARTIFACT_PREFIX = "artifacts/"
CHECKPOINT_PREFIX = "checkpoints/"
# Queued predictions' inputs and results (lambdas/seqserve_common/jobs.py); jobs live a week.
JOBS_PREFIX = "jobs/"
JOB_DAYS = 7

PINNED_IDS = {
    "access_logs": "AccessLogsBucket",
    "bucket": "DataBucket",
    "repository": "ServingImageRepository",
    "table": "StateTable",
    "history": "HistoryTable",
    "jobs_table": "JobsTable",
}


def _pin(resource: Construct, logical_id: str) -> None:
    resource.node.default_child.override_logical_id(logical_id)


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, kms_key_arn: str | None = None) -> None:
        super().__init__(scope, construct_id)
        # cdk.json kms_key_arn: the data bucket (training data, artifacts, checkpoints) uses that key; the
        # access-log bucket stays SSE-S3, the only encryption S3 server access logging delivers to.
        key = kms.Key.from_key_arn(self, "DataKey", kms_key_arn) if kms_key_arn else None
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))],
        )
        self.bucket = s3.Bucket(
            self,
            "Data",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=key,
            bucket_key_enabled=True if key else None,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data-bucket/",
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
                ),
                # Every training job writes its own key, and a served model's artifact may be any age, so
                # artifacts never expire by age: they move to Intelligent-Tiering after a month. Only an
                # overwritten key's old version (someone re-uploading by hand) is dropped after 30 days.
                s3.LifecycleRule(
                    id="expire-old-artifacts",
                    prefix=ARTIFACT_PREFIX,
                    noncurrent_version_expiration=Duration.days(30),
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                            transition_after=Duration.days(30),
                        )
                    ],
                ),
                # A job's item expires by TTL after JOB_DAYS; its objects go a day later.
                s3.LifecycleRule(
                    id="expire-jobs",
                    prefix=JOBS_PREFIX,
                    expiration=Duration.days(JOB_DAYS + 1),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                # Spot checkpoints only matter while their training job runs.
                s3.LifecycleRule(
                    id="expire-checkpoints",
                    prefix=CHECKPOINT_PREFIX,
                    expiration=Duration.days(14),
                    noncurrent_version_expiration=Duration.days(1),
                ),
            ],
        )
        self.repository = ecr.Repository(
            self,
            "ServingImages",
            image_scan_on_push=True,
            # Tags are "<variant>-<content hash>", so one never names other content; mutable lets a
            # rollback re-copy an image whose tag already exists.
            image_tag_mutability=ecr.TagMutability.MUTABLE,
            removal_policy=RemovalPolicy.RETAIN,
            # Tagged images never expire: every SageMaker model a training run recorded (and the state
            # table may wake any of them, however old) pins "<variant>-<hash>", and a lifecycle rule cannot
            # see which tags are still referenced. A count rule would let a wake fail on a pulled image.
            # Tags are content hashes, so the repository grows only when the serving code changes.
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description="drop untagged layers after a week",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(7),
                    rule_priority=1,
                ),
            ],
        )
        self.table = dynamodb.TableV2(
            self,
            "State",
            partition_key=dynamodb.Attribute(name="model", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Usage history (issue 13): transitions and daily request counts, expired by TTL
        # (lambdas/seqserve_common/history.py holds the item layout and the retention).
        self.history = dynamodb.TableV2(
            self,
            "History",
            partition_key=dynamodb.Attribute(name="model", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="at", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expires_at",
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Queued predictions, one item per job; DynamoDB's TTL deletes them after a week.
        self.jobs_table = dynamodb.TableV2(
            self,
            "Jobs",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        _pin(self.history, PINNED_IDS["history"])
        _pin(self.jobs_table, PINNED_IDS["jobs_table"])
        _pin(self.access_logs, PINNED_IDS["access_logs"])
        _pin(self.bucket, PINNED_IDS["bucket"])
        _pin(self.repository, PINNED_IDS["repository"])
        _pin(self.table, PINNED_IDS["table"])
