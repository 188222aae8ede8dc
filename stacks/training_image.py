"""The official SageMaker PyTorch training image for the stack's region, resolved without a lookup.

``pytorch_training_image.json`` is generated from the sagemaker SDK's image URI tables (its
``source`` field names the package and version). A CfnMapping keeps the stack region-agnostic: the
account is picked by ``Fn::FindInMap`` at deploy time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Aws, CfnMapping, Fn, Stack

TABLE = Path(__file__).with_name("pytorch_training_image.json")
MAPPING_ID = "PyTorchTrainingImageRegistry"


@dataclass(frozen=True, kw_only=True)
class ImageTable:
    repository: str
    framework_version: str
    py_version: str
    registries: dict[str, str]

    def tag(self, *, gpu: bool) -> str:
        return f"{self.framework_version}-{'gpu' if gpu else 'cpu'}-{self.py_version}"


def load_table(path: Path = TABLE) -> ImageTable:
    raw = json.loads(path.read_text())
    return ImageTable(
        repository=raw["repository"],
        framework_version=raw["framework_version"],
        py_version=raw["py_version"],
        registries=dict(raw["registries"]),
    )


def registry_account(stack: Stack) -> str:
    """The account of the deploy region's SageMaker framework image registry."""
    mapping = stack.node.try_find_child(MAPPING_ID)
    if mapping is None:
        registries = load_table().registries
        mapping = CfnMapping(
            stack,
            MAPPING_ID,
            mapping={region: {"account": account} for region, account in registries.items()},
        )
    return mapping.find_in_map(Aws.REGION, "account")


def training_image_uri(stack: Stack, *, gpu: bool) -> str:
    """``<account>.dkr.ecr.<region>.<url suffix>/pytorch-training:<tag>`` for the deploy region."""
    table = load_table()
    account = registry_account(stack)
    return Fn.join(
        "",
        [account, ".dkr.ecr.", Aws.REGION, ".", Aws.URL_SUFFIX, f"/{table.repository}:{table.tag(gpu=gpu)}"],
    )
