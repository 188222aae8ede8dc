"""Where a model's current artifact is, and its serving files unpacked once into /tmp.

The current artifact is the one the model's endpoint would serve: the endpoint configuration the state
item records (the training pipeline writes it after each run), else the deployed one, -> its SageMaker
model -> ``ModelDataUrl`` (as lambdas/invoker/artifacts.py reads evaluation.json). ``MODEL_DATA`` names a
fixed artifact instead (serving.model_data). Either way the S3 object's ETag is part of its identity, so
an artifact overwritten in place is reloaded too. Looking costs a GetItem and a HeadObject (plus two
describes only when the configuration changed), so it is done at most once per ``check_seconds``.
"""

from __future__ import annotations

import shutil
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# What the ONNX predictor reads: model.onnx, config.json, seqserve.json and the tokenizer files. The
# safetensors weights (as large as model.onnx) and the evaluation report are not unpacked: /tmp holds
# the ONNX model once.
SKIPPED_SUFFIXES = (".safetensors", ".bin", ".png", ".pt")


class ArtifactError(RuntimeError):
    """The model has no artifact to serve yet, or it cannot be read; the message says which."""


@dataclass(frozen=True)
class ArtifactVersion:
    url: str
    etag: str

    @property
    def folder_name(self) -> str:
        return "".join(c for c in self.etag if c.isalnum())[:32] or "artifact"


def split_s3_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ArtifactError(f"the model artifact {url!r} is not an s3://bucket/key URL")
    return parsed.netloc, parsed.path.lstrip("/")


@dataclass(kw_only=True)
class ArtifactLocator:
    """The current artifact's URL: ``model_data`` if set, else the state item's endpoint configuration
    (``fallback_config`` when it records none) -> model -> ModelDataUrl."""

    s3: Any
    dynamodb: Any | None
    sagemaker: Any | None
    model_name: str
    state_table: str | None = None
    fallback_config: str | None = None
    model_data: str | None = None

    def current(self) -> ArtifactVersion:
        url = self.model_data or self._url_from_endpoint_config()
        bucket, key = split_s3_url(url)
        head = self.s3.head_object(Bucket=bucket, Key=key)
        return ArtifactVersion(url=url, etag=head.get("ETag", ""))

    def _config_name(self) -> str | None:
        if self.state_table and self.dynamodb is not None:
            item = self.dynamodb.get_item(
                TableName=self.state_table, Key={"model": {"S": self.model_name}}, ConsistentRead=False
            ).get("Item", {})
            recorded = item.get("endpoint_config_name", {}).get("S")
            if recorded:
                return recorded
        return self.fallback_config

    def _url_from_endpoint_config(self) -> str:
        config_name = self._config_name()
        if not config_name or self.sagemaker is None:
            raise ArtifactError(
                f"model {self.model_name} has no endpoint configuration yet; a training run must finish first"
            )
        config = self.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        model = self.sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        url = container.get("ModelDataUrl")
        if not url:
            raise ArtifactError(f"model {self.model_name}'s SageMaker model names no artifact")
        return url


@dataclass(kw_only=True)
class ArtifactCache:
    """The current artifact's serving files in ``root``; ``refresh()`` says whether they changed."""

    locator: ArtifactLocator
    root: Path
    check_seconds: float
    clock: Callable[[], float] = time.monotonic
    version: ArtifactVersion | None = None
    model_dir: Path | None = None
    _checked_at: float | None = None

    def refresh(self) -> bool:
        """Look for a new artifact if ``check_seconds`` passed; fetch it if it changed. True if it did."""
        now = self.clock()
        if self._checked_at is not None and now - self._checked_at < self.check_seconds:
            return False
        current = self.locator.current()
        self._checked_at = now
        if current == self.version and self.model_dir is not None:
            return False
        self.model_dir = self._fetch(current)
        self.version = current
        return True

    def _fetch(self, version: ArtifactVersion) -> Path:
        bucket, key = split_s3_url(version.url)
        # One artifact at a time in /tmp (its size is what ephemeral storage is sized for).
        if self.root.exists():
            shutil.rmtree(self.root)
        target = self.root / version.folder_name
        target.mkdir(parents=True)
        body = self.locator.s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            with tarfile.open(fileobj=body, mode="r|gz") as archive:
                for member in archive:
                    name = member.name.removeprefix("./")
                    # Top-level files only: code/ (the stock image's handlers) is not needed, and no
                    # member name can point outside the folder.
                    if not member.isfile() or "/" in name or name.endswith(SKIPPED_SUFFIXES):
                        continue
                    source = archive.extractfile(member)
                    with (target / name).open("wb") as destination:
                        shutil.copyfileobj(source, destination, length=1 << 20)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise ArtifactError(
                f"the model artifact {version.url} is not a readable tar.gz ({error})"
            ) from None
        finally:
            body.close()
        return target
