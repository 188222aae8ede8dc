"""Which SageMaker instances take a KMS key for their volumes, and SageMaker's Tags parameter.

No aws_cdk import: the local stack (runtime install only) builds the same endpoint configurations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from stacks.config import ModelConfig

# Nitro instances with local NVMe storage encrypt it in hardware, and SageMaker refuses a KMS key for
# their volumes (CreateTrainingJob VolumeKmsKeyId, CreateEndpointConfig KmsKeyId): the "d" families
# (m5d, c5d, r5d, g4dn, p3dn, p4d, m6id, ...) and these.
LOCAL_STORAGE_FAMILIES = frozenset({"g5", "g6", "g6e", "gr6", "p5", "p5e", "p5en", "trn1", "trn1n"})
D_FAMILY = re.compile(r"^[a-z]+\d+[a-z]*d[a-z]*$")


def has_local_storage(instance_type: str) -> bool:
    family = instance_type.split(".")[1]
    return family in LOCAL_STORAGE_FAMILIES or bool(D_FAMILY.match(family))


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """SageMaker's ``Tags`` parameter, in a stable order."""
    return [{"Key": key, "Value": tags[key]} for key in sorted(tags)]


def endpoint_volume_key(kms_key_arn: str | None, model: ModelConfig) -> str | None:
    """The key for the endpoint's storage volume, where SageMaker accepts one."""
    serving = model.serving
    if kms_key_arn is None or serving.mode == "serverless" or has_local_storage(serving.instance_type):
        return None
    return kms_key_arn
