"""``make openapi``: the committed API contract, docs/openapi.json, from the invoker's routes.

It builds the app with a placeholder model (no deployment's models) and renders its document. The app
serves the same document at GET /openapi.json through invoker/openapi_schema.py, and never imports this
module: the import graph runs one way, from here to the app.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from seqserve_common.settings import ModelSpec, Settings

from invoker.app import build_app
from invoker.openapi_schema import openapi_document, render

__all__ = ["committed_document", "render"]


def committed_document() -> dict[str, Any]:
    """The document of the routes alone (no deployment's models): what docs/openapi.json holds."""
    placeholder = ModelSpec(
        name="model",
        preset="circrna",
        mode="on_demand",
        endpoint_name="-",
        endpoint_config_name=None,
        idle_minutes=1,
    )
    settings = Settings(state_table="-", models={"model": placeholder})
    app = build_app(
        settings=settings,
        runtime=None,
        sagemaker=None,
        dynamodb=None,
        clock=float,
        logger=Logger(),
    )
    return openapi_document(app)


if __name__ == "__main__":
    # make openapi: python -m invoker.openapi_doc > docs/openapi.json (run from lambdas/)
    print(render(committed_document()), end="")
