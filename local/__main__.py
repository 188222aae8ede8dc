"""``python -m local serve|demo``: the local stack on this machine, no AWS account and no Docker.

serve: starts the stack, prints ``API: http://127.0.0.1:PORT`` once it takes requests, serves until
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

    from .settings import local_config, model_preset, read_context
    from .stack import LocalStack, StackOptions
    from .training import train_circrna

    models = dict(args.model)
    if not models:
        print(
            f"Training the circrna preset on generated data (logs in {work_dir / 'train.log'}) ...",
            flush=True,
        )
        models = {"circrna": train_circrna(work_dir=work_dir / "circrna", log_file=work_dir / "train.log")}
    config = local_config(
        context=read_context(),
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
        )
    )


def _serve(stack) -> int:
    stop = threading.Event()
    # Ctrl-C and SIGTERM end the run the same way: through stack.stop(), which stops every child.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from seqserve_cli.local_state import remove_state, write_state

    stack.start()
    # `seqserve --local` reads the URL from here; written first, so it exists once "API:" is printed.
    write_state(api_url=stack.api_url, aws_url=stack.moto.url)
    print(f"API: {stack.api_url}", flush=True)
    try:
        stop.wait()
    finally:
        remove_state()
    return 0


def _demo(stack) -> int:
    from .demo import run_demo

    stack.start()
    return run_demo(api_url=stack.api_url, idle_timer=stack.idle_timer)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
