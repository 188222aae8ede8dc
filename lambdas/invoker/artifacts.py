"""A model's evaluation report and confusion-matrix plot, read from the artifact its endpoint serves.

Source: the ``model.tar.gz`` named by the model's endpoint configuration (the state item's, recorded by
the training pipeline, else the deployed one) -> its SageMaker model -> ``ModelDataUrl`` in S3. That is
the artifact the endpoint serves, so the metrics shown are always those of the model answering, and
no second copy has to be written or kept in step. The archive is streamed: ``model_code.package``
writes members sorted, so ``confusion_matrix.png`` and ``evaluation.json`` come before the weights and
only the first kilobytes are read. An archive in another order is read up to SCAN_LIMIT_BYTES of
members, then the file is reported missing rather than downloading gigabytes of weights.
"""

from __future__ import annotations

import tarfile
from typing import Any
from urllib.parse import urlparse

from seqserve_common.settings import ModelSpec
from seqserve_common.state import StateStore

from invoker.api_error import ApiError

FILES = ("evaluation.json", "confusion_matrix.png")
SCAN_LIMIT_BYTES = 64 * 1024 * 1024
# Artifacts are immutable per S3 URL (a new training run writes a new one): a small per-container cache.
CACHE_SIZE = 16


class ArtifactReader:
    def __init__(self, *, sagemaker: Any, s3: Any, store: StateStore) -> None:
        self._sagemaker = sagemaker
        self._s3 = s3
        self._store = store
        self._cache: dict[str, dict[str, bytes]] = {}

    def read(self, spec: ModelSpec, name: str) -> bytes:
        """The bytes of ``name`` (one of FILES) in the model's artifact; ApiError 404/409 when absent."""
        url = self._model_data_url(spec)
        files = self._cache.get(url)
        if files is None:
            files = self._scan(url)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[url] = files
        if name not in files:
            raise ApiError(404, "not_found", f"model {spec.name}'s artifact holds no {name}")
        return files[name]

    def _model_data_url(self, spec: ModelSpec) -> str:
        config_name = self._store.get(spec.name).endpoint_config_name or spec.endpoint_config_name
        if not config_name:
            raise ApiError(
                409,
                "not_trained",
                f"model {spec.name} has no endpoint configuration yet; a training run must finish first",
            )
        config = self._sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        model_name = config["ProductionVariants"][0]["ModelName"]
        model = self._sagemaker.describe_model(ModelName=model_name)
        container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        url = container.get("ModelDataUrl")
        if not url:
            raise ApiError(404, "not_found", f"model {spec.name}'s SageMaker model names no artifact")
        return url

    def _scan(self, url: str) -> dict[str, bytes]:
        parsed = urlparse(url)
        body = self._s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
        found: dict[str, bytes] = {}
        scanned = 0
        try:
            with tarfile.open(fileobj=body, mode="r|gz") as archive:
                for member in archive:
                    name = member.name.removeprefix("./")
                    if name in FILES and member.isfile():
                        found[name] = archive.extractfile(member).read()
                    scanned += member.size
                    if len(found) == len(FILES) or scanned > SCAN_LIMIT_BYTES:
                        break
        except (tarfile.TarError, EOFError, OSError):
            raise ApiError(502, "model_error", f"the model artifact {url} is not a readable tar.gz") from None
        finally:
            body.close()
        return found
