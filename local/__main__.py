"""``python -m local serve|demo``: the local stack on this machine, no AWS account and no Docker.

serve: starts the stack, prints ``API: http://127.0.0.1:PORT`` once it takes requests,
``API key: KEY`` (with ``api.auth: api_key``: send it as ``x-api-key``) and
``AWS: http://127.0.0.1:PORT`` (the embedded AWS, for ``aws --endpoint-url`` or boto3), serves until
Ctrl-C (or SIGTERM), then stops every process it started. With no ``--model`` it first trains the
circrna preset on generated data.
demo: the same stack, driven through the REST API with example requests, including a sleep and a wake.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

DEFAULT_IDLE_MINUTES = 1
# SageMaker takes minutes; a few seconds keep the demo quick while every client still meets a Creating
# endpoint (503 + Retry-After) on a wake and the idle check meets a Deleting one on a sleep.
DEFAULT_CREATE_SECONDS = 3.0
DEFAULT_DELETE_SECONDS = 2.0


def _model_arg(text: str) -> tuple[str, Path]:
    name, sep, directory = text.partition("=")
    if not sep or not name or not directory:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=MODEL_DIR")
    path = Path(directory).expanduser().resolve()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {path} is not a directory")
    return name, path


def _positive(kind: type):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    return convert


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more seconds")
    return value


def _fault(text: str):
    from .faults import FaultError, parse_fault

    try:
        return parse_fault(text)
    except FaultError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("serve", "start the stack and serve until Ctrl-C"), ("demo", "run the demo")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--model",
            action="append",
            type=_model_arg,
            default=[],
            metavar="NAME=MODEL_DIR",
            help="serve a trained model directory under NAME (repeatable)",
        )
        command.add_argument(
            "--idle-minutes",
            type=_positive(int),
            default=DEFAULT_IDLE_MINUTES,
            help=f"idle time before a model sleeps (default {DEFAULT_IDLE_MINUTES})",
        )
        command.add_argument(
            "--check-every-seconds",
            type=_positive(float),
            default=5.0,
            help="period of the idle check while its rule is enabled (default 5)",
        )
        command.add_argument(
            "--create-seconds",
            type=_seconds,
            default=DEFAULT_CREATE_SECONDS,
            help=f"an endpoint is Creating this long, then InService (default {DEFAULT_CREATE_SECONDS:g})",
        )
        command.add_argument(
            "--delete-seconds",
            type=_seconds,
            default=DEFAULT_DELETE_SECONDS,
            help=f"an endpoint is Deleting this long, then gone (default {DEFAULT_DELETE_SECONDS:g})",
        )
        command.add_argument(
            "--fault",
            action="append",
            type=_fault,
            default=[],
            metavar="OPERATION:KIND:RATE",
            help="inject AWS faults into the Lambdas' calls (repeatable): KIND is throttle, error (5xx), "
            "timeout or lost (the call takes effect, its answer is lost); RATE the fraction of that "
            "operation's requests, e.g. CreateEndpoint:lost:0.5",
        )
        command.add_argument(
            "--fault-seed", type=int, default=None, help="seed of the fault draws, for a reproducible run"
        )
        command.add_argument("--port", type=int, default=0, help="port of the REST API (default: a free one)")
        command.add_argument(
            "--work-dir",
            type=Path,
            default=None,
            help="where to keep generated data, the trained model and logs (default: temporary)",
        )
    return parser


def _build(args: argparse.Namespace, work_dir: Path):
    from stacks.naming import service_stack_name

    from .sagemaker_timing import EndpointTimes
    from .settings import local_config, model_preset, read_context
    from .stack import LocalStack, StackOptions
    from .training import train_circrna

    models = dict(args.model)
    context = read_context()
    if not models:
        print(
            f"Training the circrna preset on generated data (logs in {work_dir / 'train.log'}) ...",
            flush=True,
        )
        circrna = local_config(context=context, presets={"circrna": "circrna"}, idle_minutes=None)
        models = {
            "circrna": train_circrna(
                work_dir=work_dir / "circrna",
                log_file=work_dir / "train.log",
                runtime=circrna.model("circrna").serving.runtime,
            )
        }
    config = local_config(
        context=context,
        presets={name: model_preset(path) for name, path in models.items()},
        idle_minutes=args.idle_minutes,
    )
    return LocalStack(
        StackOptions(
            config=config,
            stack_name=service_stack_name(config.prefix),
            model_dirs=models,
            log_dir=work_dir / "logs",
            check_every_seconds=args.check_every_seconds,
            api_port=args.port,
            endpoint_times=EndpointTimes(
                create_seconds=args.create_seconds, delete_seconds=args.delete_seconds
            ),
            faults=tuple(args.fault),
            fault_seed=args.fault_seed,
        )
    )


def _announce(stack) -> None:
    """What a user points clients at; ``API:`` comes last, once the stack takes requests."""
    options = stack.options
    times = options.endpoint_times
    print(
        f"Endpoints: Creating {times.create_seconds:g} s, Deleting {times.delete_seconds:g} s",
        flush=True,
    )
    if options.faults:
        seed = "" if options.fault_seed is None else f" (seed {options.fault_seed})"
        print(f"Faults: {' '.join(fault.text for fault in options.faults)}{seed}", flush=True)
    print(f"AWS: {stack.aws_url}", flush=True)
    if stack.api_key is not None:
        print(f"API key: {stack.api_key}  (send it as x-api-key; `seqserve --local` reads it)", flush=True)


def _serve(stack) -> int:
    stop = threading.Event()
    # Ctrl-C and SIGTERM end the run the same way: through stack.stop(), which stops every child.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from seqserve_cli.local_state import remove_state, write_state

    stack.start()
    # `seqserve --local` reads the URL from here; written first, so it exists once "API:" is printed.
    write_state(api_url=stack.api_url, aws_url=stack.moto.url, api_key=stack.api_key)
    _announce(stack)
    print(f"API: {stack.api_url}", flush=True)
    try:
        stop.wait()
    finally:
        remove_state()
    return 0


def _demo(stack) -> int:
    from .demo import run_demo

    stack.start()
    _announce(stack)
    return run_demo(api_url=stack.api_url, api_key=stack.api_key, idle_timer=stack.idle_timer)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.fault:
        from .faults import FaultError, check_plan

        try:
            check_plan(args.fault)
        except FaultError as error:
            parser.error(str(error))
    with tempfile.TemporaryDirectory(prefix="seqserve-local-") as temporary:
        work_dir = (args.work_dir or Path(temporary)).resolve()
        work_dir.mkdir(parents=True, exist_ok=True)
        try:
            stack = _build(args, work_dir)
        except (ValueError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
        try:
            return _serve(stack) if args.command == "serve" else _demo(stack)
        except (ValueError, RuntimeError, TimeoutError, OSError) as error:
            # A part that would not start (a port in use, a model dir that is incomplete or does not
            # load): say which.
            print(f"error: the local stack did not start: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        finally:
            print("Stopping the local stack ...", flush=True)
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
