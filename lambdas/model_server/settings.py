"""The model server's settings from its environment (stacks/model_function.py sets them).

- ``MODEL_NAME``: the model's name (its key in the state table).
- ``STATE_TABLE`` and ``ENDPOINT_CONFIG_NAME``: where the current artifact is recorded (the state item's
  endpoint configuration, else this deployed one); ``MODEL_DATA`` (s3://bucket/key) names a fixed one.
- ``ARTIFACT_CHECK_SECONDS``: how often a warm container looks for a new artifact (default 60).
- ``MODEL_CACHE_DIR``: where the artifact is unpacked (default /tmp/model).
- ``ORT_THREADS``: ONNX Runtime's threads (default: from the function's memory).
- ``SEQSERVE_MAX_INPUTS`` and the other ``SEQSERVE_*`` limits the serving container reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from model_code.serving.validation import Limits
from model_server.artifact import ArtifactCache, ArtifactLocator
from model_server.server import ModelServer, ort_threads

DEFAULT_CHECK_SECONDS = 60


def server_from_environ(environ: Mapping[str, str], *, s3: Any, dynamodb: Any, sagemaker: Any) -> ModelServer:
    name = environ.get("MODEL_NAME")
    if not name:
        raise ValueError("MODEL_NAME must name the model this function serves")
    if not environ.get("MODEL_DATA") and not (
        environ.get("STATE_TABLE") or environ.get("ENDPOINT_CONFIG_NAME")
    ):
        raise ValueError(
            "set MODEL_DATA, or STATE_TABLE and ENDPOINT_CONFIG_NAME, to find the model's artifact"
        )
    raw = environ.get("ARTIFACT_CHECK_SECONDS", str(DEFAULT_CHECK_SECONDS))
    try:
        check_seconds = float(raw)
    except ValueError:
        raise ValueError(f"ARTIFACT_CHECK_SECONDS must be a number of seconds, got {raw!r}") from None
    if check_seconds < 0:
        raise ValueError(f"ARTIFACT_CHECK_SECONDS must not be negative, got {raw!r}")
    locator = ArtifactLocator(
        s3=s3,
        dynamodb=dynamodb,
        sagemaker=sagemaker,
        model_name=name,
        state_table=environ.get("STATE_TABLE") or None,
        fallback_config=environ.get("ENDPOINT_CONFIG_NAME") or None,
        model_data=environ.get("MODEL_DATA") or None,
    )
    cache = ArtifactCache(
        locator=locator, root=Path(environ.get("MODEL_CACHE_DIR", "/tmp/model")), check_seconds=check_seconds
    )
    return ModelServer(artifact=cache, limits=Limits.from_environ(environ), threads=ort_threads(environ))
