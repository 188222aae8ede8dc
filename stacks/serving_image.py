"""The serving image: built from model_code/ by `cdk deploy`, then copied into the stateful repository.

CDK publishes Docker image assets to its bootstrap repository; cdk-ecr-deployment copies each one into
the seqserve repository (scan on push, lifecycle rules) under the tag ``<variant>-<asset hash>``,
and every SageMaker model pulls from there. Synth builds nothing and needs no Docker: the copy
Lambda ships prebuilt in the cdk-ecr-deployment package.
"""

from __future__ import annotations

import ast
from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from cdk_ecr_deployment import DockerImageName, ECRDeployment
from constructs import Construct

DOCKER_EXCLUDES = ["**/__pycache__", "**/*.pyc", "tests"]
# The modules the server starts from (``serve`` imports _package, then model_code.serving.server, which
# loads model_code.inference); everything they import from model_code goes in too.
SERVING_ROOTS = ("__init__.py", "_package.py", "serving/server.py", "inference.py")
PACKAGE = "model_code"
# SageMaker rejects OCI image manifests ("Unsupported manifest media type"), which Docker's containerd
# image store writes by default. BuildKit also switches to OCI whenever it attaches attestations, so
# deploys run with BUILDX_NO_DEFAULT_ATTESTATIONS=1 (README, `make deploy`).
DOCKER_OUTPUTS = ["type=image,oci-mediatypes=false"]


def module_files(model_code: Path) -> dict[str, str]:
    """Dotted module name under the package ("serving.payload", "" for the package) -> its file, relative."""
    modules = {}
    for path in sorted(model_code.rglob("*.py")):
        relative = path.relative_to(model_code)
        if "__pycache__" in relative.parts:
            continue
        parts = relative.with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = relative.as_posix()
    return modules


def _with_parents(module: str) -> list[str]:
    """``a.b.c`` -> ``a.b.c``, ``a.b``, ``a``, and the package itself: importing one imports them all."""
    parts = module.split(".") if module else []
    return [".".join(parts[:end]) for end in range(len(parts), -1, -1)]


def imported_modules(model_code: Path, module: str, files: dict[str, str]) -> set[str]:
    """The package's modules (keys of ``files``) that ``module`` imports, anywhere in the file."""
    source = model_code / files[module]
    is_package = source.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package, one level up per extra dot
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, *([node.module] if node.module else [])])
                base = f"{PACKAGE}.{base}" if base else PACKAGE
            else:
                base = node.module or ""
            # ``from a import b`` imports a, and a.b when b is a module rather than a name in a.
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(f"{PACKAGE}."):
                name = target.removeprefix(PACKAGE).removeprefix(".")
                found.update(parent for parent in _with_parents(name) if parent in files)
    return found


def serving_modules(model_code: Path) -> set[str]:
    """The ``.py`` files of ``model_code`` (paths relative to it) the server can import: the roots,
    what they import, and the packages those live in."""
    files = module_files(model_code)
    by_file = {file: module for module, file in files.items()}
    pending = [parent for root in SERVING_ROOTS if root in by_file for parent in _with_parents(by_file[root])]
    modules: set[str] = set()
    while pending:
        module = pending.pop()
        if module in files and module not in modules:
            modules.add(module)
            pending.extend(imported_modules(model_code, module, files) - modules)
    return {files[module] for module in modules}


def serving_excludes(model_code: Path) -> list[str]:
    """Docker-context excludes: the modules serving never imports (training code), so editing them
    neither changes the image's hash nor rolls the endpoints. Other files (Dockerfile, serve,
    requirements) stay, as the Dockerfile copies them."""
    keep = serving_modules(model_code)
    unused = sorted(set(module_files(model_code).values()) - keep)
    return [*DOCKER_EXCLUDES, *unused]


class ServingImages(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, model_code: Path, repository: ecr.IRepository
    ) -> None:
        super().__init__(scope, construct_id)
        self._model_code = model_code
        self.repository = repository
        self.copy_role = self._copy_role(repository)
        self.copies: dict[str, ECRDeployment] = {}
        self._uris: dict[str, str] = {}

    def uri(self, variant: str) -> str:
        """The image for ``cpu``, ``gpu`` or ``cpu-onnx`` (model_code/Dockerfile's VARIANT build argument)."""
        if variant not in self._uris:
            asset = ecr_assets.DockerImageAsset(
                self,
                f"Asset-{variant}",
                directory=str(self._model_code),
                platform=ecr_assets.Platform.LINUX_AMD64,
                build_args={"VARIANT": variant},
                exclude=serving_excludes(self._model_code),
                outputs=DOCKER_OUTPUTS,
            )
            uri = self.repository.repository_uri_for_tag(f"{variant}-{asset.asset_hash}")
            self.copies[variant] = ECRDeployment(
                self,
                f"Copy-{variant}",
                src=DockerImageName(asset.image_uri),
                dest=DockerImageName(uri),
                # Layer blobs stream through the function; torch layers are large.
                memory_limit=3008,
                # cdk-ecr-deployment adds ECR and S3 rights on "*" to the role it gets; this one ignores
                # them and holds only the grants below.
                role=self.copy_role.without_policy_updates(),
            )
            asset.repository.grant_pull(self.copy_role)
            self._uris[variant] = uri
        return self._uris[variant]

    def _copy_role(self, repository: ecr.IRepository) -> iam.Role:
        """Pull from CDK's asset repository (granted per asset), push to ours, write its own logs.

        The copy function is CDK-named, so its log group is matched by the stack-name prefix.
        """
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "CopyRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="seqserve: copy the serving image into the seqserve repository",
        )
        repository.grant_pull_push(role)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"/aws/lambda/{stack.stack_name}-CustomCDKECRDeployment*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        return role
