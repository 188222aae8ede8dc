"""The official SageMaker PyTorch images (training and inference), resolved by the SageMaker SDK at synth.

``sagemaker.image_uris.retrieve`` knows, for every region it supports, the registry account, the
region's domain and the tag of each framework image; it reads those from tables inside the (pinned)
package, offline. A stack with a concrete region gets the literal URIs. A region-agnostic stack gets a
CfnMapping of every region the SDK lists, built by calling ``retrieve`` once per region, and picks its
row with ``Fn::FindInMap`` at deploy time: synth stays offline and deterministic either way.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache

from aws_cdk import Aws, CfnMapping, Stack, Token

MAPPING_ID = "PyTorchTrainingImageRegistry"
# The newest PyTorch the pinned SDK (requirements.txt) has images for, and their Python.
FRAMEWORK_VERSION = "2.6"
TRAINING_REPOSITORY = "pytorch-training"
# Instance types only pick the processor ("cpu" or "gpu") in the SDK's tables.
_PROCESSOR_INSTANCE = {"cpu": "ml.m5.xlarge", "gpu": "ml.g5.xlarge"}
_SCOPES = ("training", "inference")


@dataclass(frozen=True, kw_only=True)
class ImageKey:
    scope: str  # "training" or "inference"
    gpu: bool

    @property
    def mapping_key(self) -> str:
        # CloudFormation mapping attribute names are alphanumeric.
        return f"{self.scope.capitalize()}{'Gpu' if self.gpu else 'Cpu'}"


def _sdk_image_uris():
    # The SDK logs where it looked for its defaults file and warns about v2 on import: not our output.
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sagemaker import image_uris

    return image_uris


def retrieve(*, region: str, key: ImageKey) -> str:
    """The SDK's URI of the PyTorch ``key.scope`` image for ``region``; ValueError for an unknown region."""
    try:
        return _sdk_image_uris().retrieve(
            "pytorch",
            region=region,
            version=FRAMEWORK_VERSION,
            instance_type=_PROCESSOR_INSTANCE["gpu" if key.gpu else "cpu"],
            image_scope=key.scope,
        )
    except ValueError as error:
        raise ValueError(
            f"region {region!r}: the SageMaker SDK has no PyTorch {FRAMEWORK_VERSION} {key.scope} image "
            f"there ({' '.join(str(error).split())})"
        ) from None


@cache
def regions() -> tuple[str, ...]:
    """Every region the SDK has both PyTorch images of ``FRAMEWORK_VERSION`` for, sorted."""
    config = _sdk_image_uris().config_for_framework("pytorch")
    found = None
    for scope in _SCOPES:
        versions = config[scope]["versions"]
        aliases = config[scope].get("version_aliases", {})
        entry = versions[aliases.get(FRAMEWORK_VERSION, FRAMEWORK_VERSION)]
        found = set(entry["registries"]) if found is None else found & set(entry["registries"])
    return tuple(sorted(found or ()))


@cache
def image_table() -> Mapping[str, Mapping[str, str]]:
    """region -> {mapping key: URI, "account": registry account}, from ``retrieve`` for each region."""
    table: dict[str, dict[str, str]] = {}
    with _one_endpoint_resolver():
        for region in regions():
            row = {
                key.mapping_key: retrieve(region=region, key=key)
                for key in (ImageKey(scope=s, gpu=g) for s in _SCOPES for g in (False, True))
            }
            accounts = {uri.split(".", 1)[0] for uri in row.values()}
            if len(accounts) != 1:
                raise ValueError(f"{region}: the SDK's PyTorch images come from several accounts {accounts}")
            table[region] = {**row, "account": accounts.pop()}
    return table


@contextlib.contextmanager
def _one_endpoint_resolver() -> Iterator[None]:
    """``retrieve`` re-reads botocore's endpoint file (the regions' domains) on every call, about a
    second each; one resolver serves the whole table. Without that helper the SDK works unchanged."""
    from sagemaker import utils

    original = getattr(utils, "_botocore_resolver", None)
    if original is None:
        yield
        return
    resolver = original()
    utils._botocore_resolver = lambda: resolver
    try:
        yield
    finally:
        utils._botocore_resolver = original


def _mapping(stack: Stack) -> CfnMapping:
    mapping = stack.node.try_find_child(MAPPING_ID)
    if mapping is None:
        mapping = CfnMapping(stack, MAPPING_ID, mapping={r: dict(row) for r, row in image_table().items()})
    return mapping


def registry_account(stack: Stack) -> str:
    """The account of the deploy region's SageMaker framework image registry."""
    if not Token.is_unresolved(stack.region):
        return retrieve(region=stack.region, key=ImageKey(scope="training", gpu=False)).split(".", 1)[0]
    return _mapping(stack).find_in_map(Aws.REGION, "account")


def framework_image_uri(stack: Stack, *, scope: str, gpu: bool) -> str:
    """The PyTorch ``scope`` ("training" or "inference") image URI for the stack's region."""
    if scope not in _SCOPES:
        raise ValueError(f"scope must be one of {', '.join(_SCOPES)}, got {scope!r}")
    key = ImageKey(scope=scope, gpu=gpu)
    if not Token.is_unresolved(stack.region):
        return retrieve(region=stack.region, key=key)
    return _mapping(stack).find_in_map(Aws.REGION, key.mapping_key)


def training_image_uri(stack: Stack, *, gpu: bool) -> str:
    """``<account>.dkr.ecr.<region>.<domain>/pytorch-training:<tag>`` for the deploy region."""
    return framework_image_uri(stack, scope="training", gpu=gpu)


def inference_image_uri(stack: Stack, *, gpu: bool) -> str:
    """The stock PyTorch inference image, which serves the artifact's ``code/inference.py``."""
    return framework_image_uri(stack, scope="inference", gpu=gpu)
