"""Which endpoints belong to this deployment: the ones carrying its deployment tag (standard library only).

Two deployments in one account can share a name prefix (``seqserve`` and ``seqserve-dev``: every endpoint
of the second starts with ``seqserve-``), so a name never proves ownership. Every endpoint the app
creates carries ``DEPLOYMENT_TAG`` with the deployment's name (the service stack's name), set in the
CreateEndpoint call itself; the reconciler adopts and deletes only endpoints carrying its own value, and
IAM allows DeleteEndpoint/UpdateEndpoint only on that tag. ``stacks/`` imports this module to build the
same key into the policies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DEPLOYMENT_TAG = "seqserve:deployment"


def tag_map(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """SageMaker's ``[{"Key", "Value"}]`` as a dict."""
    return {tag["Key"]: tag["Value"] for tag in tags}


def owner_of(tags: Mapping[str, str]) -> str | None:
    """The deployment an endpoint's tags name, or None when it carries no deployment tag."""
    return tags.get(DEPLOYMENT_TAG)
