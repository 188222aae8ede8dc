"""The whole local stack in one object: start it, use ``api_url`` (and ``aws_url``), stop it (every
process it started)."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import uvicorn
from starlette.applications import Starlette

from stacks.config import DeploymentConfig
from stacks.container_environment import container_environment
from stacks.jobs_environment import JOB_BATCH_SIZE, JOB_RUNNER_TIMEOUT_SECONDS
from stacks.lambda_environment import (
    IDLE_CHECKER_TIMEOUT_SECONDS,
    INVOKER_TIMEOUT_SECONDS,
    MODEL_SERVER_TIMEOUT_SECONDS,
    tags_environment,
)
from stacks.model_server_asset import stage_model_server

from . import lambda_api, rest_api, runtime
from .aws import CREDENTIALS, REGION, MotoServer, aws_environment
from .faults import Fault, plan_argument
from .idle_timer import IdleTimer
from .job_poller import JobPoller
from .lambda_pool import LambdaFunction
from .model_server import REPO_ROOT, ModelServer
from .resources import Deployment, create_deployment
from .sagemaker_timing import Clock, EndpointTimes

LAMBDA_CODE = REPO_ROOT / "lambdas"
# Worker processes of the idle checker: more than one, so a duplicate delivery overlaps as on AWS.
IDLE_CHECKER_CONCURRENCY = 2
# stacks/model_cleanup.py's TIMEOUT (that module imports aws_cdk, which the local stack does not load).
PIPELINE_CLEANUP_TIMEOUT_SECONDS = 120
# stacks/endpoint_teardown.py's timeout and wait; it looks more often here, where deletes take seconds.
TEARDOWN_TIMEOUT_SECONDS = 900
TEARDOWN_WAIT_SECONDS = 840
TEARDOWN_POLL_SECONDS = 0.5


@dataclass(frozen=True, kw_only=True)
class StackOptions:
    config: DeploymentConfig
    stack_name: str
    # Served model name -> trained model directory (SM_MODEL_DIR layout).
    model_dirs: Mapping[str, Path]
    log_dir: Path
    check_every_seconds: float = 10.0
    api_port: int = 0
    # Concurrent executions of the invoker, each a process, as Lambda's reserved concurrency.
    invoker_concurrency: int = 8
    # How long endpoints stay Creating and Deleting, on ``endpoint_clock`` (default: time.monotonic).
    endpoint_times: EndpointTimes = field(default_factory=EndpointTimes)
    endpoint_clock: Clock | None = None
    # AWS faults injected into both Lambdas' boto3 calls (local.faults), drawn from ``fault_seed``.
    faults: tuple[Fault, ...] = ()
    fault_seed: int | None = None
    # Where each function appends the IAM requests of its AWS calls, ``<function name>.jsonl``
    # (local.request_recorder; None: not recorded).
    record_dir: Path | None = None


class _HttpServer:
    """A uvicorn server in a thread, on a socket we bind first so the port is known and ours."""

    def __init__(self, *, app: Starlette, name: str, port: int = 0) -> None:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self.port = int(self._socket.getsockname()[1])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=name
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{self._thread.name} server did not start")
            self._thread.join(timeout=0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()


class LocalStack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.moto = MotoServer(endpoint_times=options.endpoint_times, clock=options.endpoint_clock)
        self.model_servers: dict[str, ModelServer] = {}
        self.deployment: Deployment | None = None
        self.invoker: LambdaFunction | None = None
        self.idle_checker: LambdaFunction | None = None
        self.idle_timer: IdleTimer | None = None
        self.job_runner: LambdaFunction | None = None
        self.pipeline_cleanup: LambdaFunction | None = None
        self.teardown: LambdaFunction | None = None
        # The Lambda-hosted models by model name (issue 21; their names are in MODELS' serving_function).
        self.model_functions: dict[str, LambdaFunction] = {}
        self.job_poller: JobPoller | None = None
        self._runtime: _HttpServer | None = None
        self._lambda_api: _HttpServer | None = None
        self._api: _HttpServer | None = None
        # As API Gateway with api.auth api_key: one key, which every request but the public pages sends.
        self.api_key: str | None = secrets.token_hex(20) if options.config.api.auth == "api_key" else None

    def client(self, service: str) -> Any:
        """A boto3 client of the local AWS (moto), for the stack itself and for tests."""
        return boto3.client(
            service,
            endpoint_url=self.moto.url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
        )

    @property
    def functions(self) -> list[LambdaFunction]:
        """Every Lambda function the stack runs."""
        found = (self.invoker, self.idle_checker, self.job_runner, self.pipeline_cleanup, self.teardown)
        return [function for function in found if function is not None] + list(self.model_functions.values())

    @property
    def api_url(self) -> str:
        if self._api is None:
            raise RuntimeError("the local stack is not started")
        return self._api.url

    @property
    def aws_url(self) -> str:
        """The embedded AWS (moto) endpoint, for ``aws --endpoint-url`` or boto3's ``endpoint_url``."""
        return self.moto.url

    @property
    def runtime_url(self) -> str:
        if self._runtime is None:
            raise RuntimeError("the local stack is not started")
        return self._runtime.url

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        options = self.options
        options.log_dir.mkdir(parents=True, exist_ok=True)
        self.moto.start()
        clients = {
            name: self.client(name) for name in ("s3", "dynamodb", "sns", "events", "sagemaker", "sqs")
        }
        self.deployment = create_deployment(
            clients=clients,
            config=options.config,
            stack_name=options.stack_name,
            model_dirs=options.model_dirs,
        )
        router = runtime.ContainerRouter(sagemaker=clients["sagemaker"], servers=self._servers_by_artifact)
        self._runtime = _HttpServer(app=runtime.create_app(router=router), name="sagemaker-runtime")
        self._runtime.start()
        # Lambda's Invoke API for the stack's functions: the invoker calls the models' serving functions.
        self._lambda_api = _HttpServer(
            app=lambda_api.create_app(functions=self._functions_by_name), name="lambda-invoke"
        )
        self._lambda_api.start()
        environment = {
            **aws_environment(
                moto_url=self.moto.url, runtime_url=self._runtime.url, lambda_url=self._lambda_api.url
            ),
            "TZ": ":UTC",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        server_environment = {
            **environment,
            **container_environment(options.config.api),
            "PATH": "/usr/bin:/bin",
            "HOME": str(options.log_dir),
        }
        for name, model in self.deployment.models.items():
            # As the image serving.runtime picks on AWS; a model without a checked ONNX export is served
            # by torch here (logged), where the cpu-onnx image would refuse it.
            self.model_servers[name] = ModelServer(
                name=name,
                model_dir=model.model_dir,
                environment={**server_environment, "SEQSERVE_RUNTIME": model.config.serving.runtime},
                log_dir=options.log_dir,
            )
        function_environment = {**environment, **self.deployment.lambda_environment()}
        fault_plan = plan_argument(options.faults, seed=options.fault_seed) if options.faults else ""

        def record_file(name: str) -> Path | None:
            return None if options.record_dir is None else options.record_dir / f"{name}.jsonl"

        self.invoker = LambdaFunction(
            name=f"{options.stack_name}-invoker",
            code_dir=LAMBDA_CODE,
            handler="invoker.handler.handler",
            # TAGS on the invoker only, as stacks/service_stack.py sets it.
            environment={
                **function_environment,
                **tags_environment(options.config.tags),
                "POWERTOOLS_SERVICE_NAME": "invoker",
            },
            concurrency=options.invoker_concurrency,
            timeout_seconds=INVOKER_TIMEOUT_SECONDS,
            log_dir=options.log_dir,
            fault_plan=fault_plan,
            record_file=record_file(f"{options.stack_name}-invoker"),
        )
        self.idle_checker = LambdaFunction(
            name=f"{options.stack_name}-idle-checker",
            code_dir=LAMBDA_CODE,
            handler="idle_checker.handler.handler",
            environment={**function_environment, "POWERTOOLS_SERVICE_NAME": "idle-checker"},
            # No reserved concurrency on AWS either: overlapping invocations can run, and the run lock
            # in the state table (seqserve_common.run_lock) lets only one of them reconcile.
            concurrency=IDLE_CHECKER_CONCURRENCY,
            timeout_seconds=IDLE_CHECKER_TIMEOUT_SECONDS,
            log_dir=options.log_dir,
            fault_plan=fault_plan,
            record_file=record_file(f"{options.stack_name}-idle-checker"),
        )
        self.job_runner = LambdaFunction(
            name=f"{options.stack_name}-job-runner",
            code_dir=LAMBDA_CODE,
            handler="job_runner.handler.handler",
            environment={**function_environment, "POWERTOOLS_SERVICE_NAME": "job-runner"},
            concurrency=1,
            timeout_seconds=JOB_RUNNER_TIMEOUT_SECONDS,
            log_dir=options.log_dir,
            fault_plan=fault_plan,
            record_file=record_file(f"{options.stack_name}-job-runner"),
        )
        # The training pipeline's last step (stacks/model_cleanup.py), for a caller playing the pipeline.
        self.pipeline_cleanup = LambdaFunction(
            name=f"{options.stack_name}-pipeline-cleanup",
            code_dir=LAMBDA_CODE,
            handler="pipeline_cleanup.handler.handler",
            environment={
                **environment,
                "STATE_TABLE": self.deployment.table,
                "POWERTOOLS_SERVICE_NAME": "pipeline-cleanup",
            },
            concurrency=1,
            timeout_seconds=PIPELINE_CLEANUP_TIMEOUT_SECONDS,
            log_dir=options.log_dir,
            record_file=record_file(f"{options.stack_name}-pipeline-cleanup"),
        )
        # The custom resource that deletes this deployment's endpoints when the service stack is deleted
        # (stacks/endpoint_teardown.py): ``destroy`` plays CloudFormation's Delete event.
        lambda_environment = self.deployment.lambda_environment()
        self.teardown = LambdaFunction(
            name=f"{options.stack_name}-endpoint-teardown",
            code_dir=LAMBDA_CODE,
            handler="teardown.handler.handler",
            environment={
                **environment,
                "DEPLOYMENT_NAME": lambda_environment["DEPLOYMENT_NAME"],
                "ENDPOINT_PREFIX": lambda_environment["ENDPOINT_PREFIX"],
                "WAIT_SECONDS": str(TEARDOWN_WAIT_SECONDS),
                "POLL_SECONDS": str(TEARDOWN_POLL_SECONDS),
                "POWERTOOLS_SERVICE_NAME": "endpoint-teardown",
            },
            concurrency=1,
            timeout_seconds=TEARDOWN_TIMEOUT_SECONDS,
            log_dir=options.log_dir,
            record_file=record_file(f"{options.stack_name}-endpoint-teardown"),
        )
        # The Lambda-hosted models (issue 21), as stacks/model_function.py deploys them: the real handler
        # reading the artifact the state table records from the embedded S3, with their own environment,
        # from a code folder staged as its asset is (this machine's packages instead of the arm64 wheels).
        model_server_code = None
        for name, model in self.deployment.models.items():
            function_name = self.deployment.serving_function(name)
            if function_name is None:
                continue
            if model_server_code is None:
                staged = options.log_dir / "model-server-code"
                model_server_code = stage_model_server(staged, with_wheels=False)
            self.model_functions[name] = LambdaFunction(
                name=function_name,
                code_dir=model_server_code,
                handler="model_server.handler.handler",
                environment={
                    **environment,
                    **container_environment(options.config.api),
                    "MODEL_NAME": name,
                    "STATE_TABLE": self.deployment.table,
                    "ENDPOINT_CONFIG_NAME": model.endpoint_config_name,
                    # Lambda's /tmp is the function's own; here it is a folder of this stack's.
                    "MODEL_CACHE_DIR": str(options.log_dir / f"{function_name}-tmp"),
                },
                concurrency=1,
                timeout_seconds=MODEL_SERVER_TIMEOUT_SECONDS,
                log_dir=options.log_dir,
                fault_plan=fault_plan,
                record_file=record_file(function_name),
            )
        # Model servers load torch and the Lambda workers boto3: start them side by side.
        starters = [server.start for server in self.model_servers.values()]
        starters += [function.warm for function in self.functions]
        with ThreadPoolExecutor(max_workers=len(starters)) as pool:
            for future in [pool.submit(start) for start in starters]:
                future.result()
        self.idle_timer = IdleTimer(
            events=clients["events"],
            rule_name=self.deployment.rule_name,
            invoke=self.idle_checker.invoke,
            every_seconds=options.check_every_seconds,
        )
        self.idle_timer.start()
        self.job_poller = JobPoller(
            sqs=clients["sqs"],
            queue_url=self.deployment.jobs_queue_url,
            invoke=self.job_runner.invoke,
            batch_size=JOB_BATCH_SIZE,
        )
        self.job_poller.start()
        self._api = _HttpServer(
            app=rest_api.create_app(
                invoke=self.invoker.invoke, cors_origins=options.config.api.cors_origins, api_key=self.api_key
            ),
            name="rest-api",
            port=options.api_port,
        )
        self._api.start()

    def _functions_by_name(self) -> dict[str, LambdaFunction]:
        return {function.name: function for function in self.functions}

    def _servers_by_artifact(self) -> dict[str, str]:
        if self.deployment is None:
            return {}
        return {
            model.model_data_url: self.model_servers[name].url
            for name, model in self.deployment.models.items()
            if name in self.model_servers
        }

    def destroy(self) -> dict[str, Any]:
        """What deleting the service stack does to endpoints: stop everything that could create one
        (the API, the job poller, the reconciler's timer), then run the teardown custom resource's
        Delete; returns its answer once no endpoint of this deployment remains."""
        if self.teardown is None:
            raise RuntimeError("the local stack is not started")
        for part in (self._api, self.job_poller, self.idle_timer):
            if part is not None:
                part.stop()
        self._api = self.job_poller = self.idle_timer = None
        return self.teardown.invoke(
            {"RequestType": "Delete", "PhysicalResourceId": f"{self.options.stack_name}-endpoint-teardown"}
        )

    def stop(self) -> None:
        """Stop in reverse order; safe to call twice and after a failed start."""
        parts = (
            self._api,
            self.job_poller,
            self.idle_timer,
            self.invoker,
            self.idle_checker,
            self.job_runner,
            self.pipeline_cleanup,
            self.teardown,
        )
        for part in (*parts, *self.model_functions.values(), self._lambda_api, self._runtime):
            if part is not None:
                part.stop()
        for server in self.model_servers.values():
            server.stop()
        self.moto.stop()
        self._api = self._runtime = self._lambda_api = self.idle_timer = self.invoker = self.idle_checker = (
            None
        )
        self.job_poller = self.job_runner = self.pipeline_cleanup = self.teardown = None
        self.model_servers = {}
        self.model_functions = {}
