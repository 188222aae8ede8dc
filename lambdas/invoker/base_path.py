"""The path prefix under which the client reached the API, for the URLs the API hands out (``Location``).

API Gateway's REST proxy event carries both the path the client asked for with the prefix
(``requestContext.path``, ``/v1/jobs/...`` on the execute-api endpoint, the base path mapping's
prefix on a custom domain) and the path of the resource (``path``, ``/jobs/...``); the prefix is the
difference. The local stack serves the API at its root and says so: the two paths are equal there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def base_path(event: Mapping[str, Any]) -> str:
    """``/v1`` for ``requestContext.path`` ``/v1/models/m/predict`` and ``path`` ``/models/m/predict``;
    ``""`` when they are equal, or when the event does not say."""
    path = event.get("path") or ""
    context_path = (event.get("requestContext") or {}).get("path") or ""
    if path and context_path.endswith(path):
        return context_path[: -len(path)].rstrip("/")
    return ""
