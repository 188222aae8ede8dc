"""The stack that holds state: deployed once, retained, termination-protected."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.storage import Storage


class StatefulStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, kms_key_arn: str | None = None, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=True, **kwargs)
        self.storage = Storage(self, "Storage", kms_key_arn=kms_key_arn)
        storage = self.storage
        CfnOutput(
            self,
            "DataBucketName",
            value=storage.bucket.bucket_name,
            description="training data under data/<model>/train/",
        )
        CfnOutput(self, "StateTableName", value=storage.table.table_name)
        CfnOutput(self, "ServingImageRepositoryUri", value=storage.repository.repository_uri)
