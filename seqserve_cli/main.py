"""``seqserve``: the operator's command line for a deployed seqserve API or the local stack.

    seqserve models | status M | wake M [--lease 2h] | sleep M | predict M [FILE|-] [--wait [S]]
             | usage M | train M [--wait [S]]

Human-readable output by default, ``--json`` for scripts. Every error is one line naming what to fix,
with a non-zero exit status (1: the API or AWS refused or failed; 2: the command line is wrong).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from seqserve_cli.connection import (
    DEFAULT_STACK,
    CliError,
    Target,
    output_named,
    resolve_target,
    stack_outputs,
)

DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?$")
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
# How long predict waits for a waking model unless --wait says otherwise.
PREDICT_WAIT_SECONDS = 120


def parse_duration(text: str) -> int:
    """``2h``, ``90m``, ``1h30m`` or plain minutes ``45`` -> minutes."""
    if text.isdigit() and int(text) > 0:
        return int(text)
    found = DURATION.match(text)
    minutes = (int(found[1] or 0) * 60 + int(found[2] or 0)) if found and text else 0
    if minutes <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 2h, 90m or 1h30m")
    return minutes


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def read_inputs(source: str, stdin: TextIO) -> dict[str, Any]:
    """A predict body from a file or stdin: a JSON body as is, FASTA records, or one sequence a line."""
    if source == "-":
        text = stdin.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise CliError(f"input file {source!r} does not exist; give a file of sequences or - for stdin")
        text = path.read_text()
    stripped = text.strip()
    if not stripped:
        raise CliError(f"input {source!r} is empty; give one sequence a line, FASTA, or a JSON body")
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except ValueError as error:
            raise CliError(f"input {source!r} starts with '{{' but is not JSON: {error}") from None
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    if lines[0].startswith(">"):
        records: list[str] = []
        for line in lines:
            if line.startswith(">"):
                records.append("")
            else:
                records[-1] += line
        sequences = [record for record in records if record]
    else:
        sequences = lines
    return {"inputs": sequences[0] if len(sequences) == 1 else sequences}


class Api:
    def __init__(self, target: Target, *, client: httpx.Client | None = None) -> None:
        headers = {"x-api-key": target.api_key} if target.api_key else {}
        self.target = target
        self._client = client or httpx.Client(base_url=target.url, headers=headers, timeout=60)

    def call(
        self, method: str, path: str, *, expect: Sequence[int] = (200,), **kwargs: Any
    ) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise CliError(
                f"cannot reach the API at {self.target.url} ({error}); check --url or --local"
            ) from None
        if response.status_code not in expect:
            try:
                detail = response.json()["error"]
                message = f"{detail['message']} ({detail['code']})"
            except (ValueError, KeyError, TypeError):
                message = response.text.strip()[:200] or response.reason_phrase
            if response.status_code == 403 and not self.target.api_key:
                message += "; the API may need a key: --api-key or SEQSERVE_API_KEY"
            raise CliError(f"{method} {path}: HTTP {response.status_code}: {message}")
        return response


def show_models(body: dict[str, Any], out: TextIO) -> None:
    print(f"{'MODEL':<24} {'PRESET':<22} MODE", file=out)
    for model in body["models"]:
        print(f"{model['model']:<24} {model['preset']:<22} {model['mode']}", file=out)


def show_status(body: dict[str, Any], out: TextIO) -> None:
    reasons = ", ".join(body.get("up_reasons") or []) or "none"
    lines = [
        f"{body['model']}: {body['state']}"
        + (f" ({body['failure_reason']})" if body.get("failure_reason") else ""),
        f"  up because:     {reasons}",
        f"  last request:   {when(body.get('last_invoked_at'))}",
        f"  idle after:     {body.get('idle_minutes')} min",
        f"  lease until:    {when(body.get('lease_until'))}",
        f"  next down at:   {when(body.get('next_down_at'))}",
        f"  next up at:     {when(body.get('next_up_at'))}",
    ]
    if body.get("keep_warm"):
        lines.append(f"  keep-warm:      {'; '.join(body['keep_warm'])}")
    print("\n".join(lines), file=out)


def show_usage(body: dict[str, Any], out: TextIO) -> None:
    priced = body.get("hourly_price") is not None
    header = f"{'DAY':<11} {'MIN AWAKE':>9} {'WAKES':>5} {'REQUESTS':>8} {'MEDIAN WAKE':>11}"
    if priced:
        header += f" {'COST':>9} {'ALWAYS ON':>9} {'SAVED':>9}"
    print(header, file=out)
    for day in [*body["days"], {"day": "total", **body["total"]}]:
        median = day.get("median_wake_seconds")
        line = (
            f"{day['day']:<11} {day['minutes_awake']:>9.1f} {day['wakes']:>5} {day['requests']:>8} "
            f"{'-' if median is None else f'{median:.0f} s':>11}"
        )
        if priced:
            line += f" {day['cost_awake']:>9.2f} {day['cost_always_on']:>9.2f} {day['saved']:>9.2f}"
        print(line, file=out)
    if not priced:
        print("(no serving.hourly_price configured: minutes only)", file=out)


def show_job(body: dict[str, Any], out: TextIO) -> None:
    print(f"job {body['id']} ({body['model']}): {body['state']}", file=out)
    if body.get("waiting_for"):
        print(f"  waiting for: {body['waiting_for']}", file=out)
    if body.get("reason"):
        print(f"  reason: {body['reason']}", file=out)
    if body.get("result") is not None:
        show_predictions(body["result"], out)


def show_predictions(body: Any, out: TextIO) -> None:
    for index, entry in enumerate(body if isinstance(body, list) else [body]):
        best = entry[0] if isinstance(entry, list) else entry
        others = ""
        if isinstance(entry, list) and len(entry) > 1:
            others = "  (" + ", ".join(f"{e['label']} {e['score']:.3f}" for e in entry[1:]) + ")"
        print(f"{index}\t{best['label']}\t{best['score']:.3f}{others}", file=out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqserve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="API base URL (default: $SEQSERVE_URL, else the stack's output)")
    parser.add_argument("--api-key", help="API key (default: $SEQSERVE_API_KEY, else from the stack)")
    parser.add_argument("--local", action="store_true", help="use the running `python -m local serve`")
    parser.add_argument(
        "--stack", default=DEFAULT_STACK, help=f"service stack name (default {DEFAULT_STACK})"
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("models", help="list the deployed models")
    for name, text in (
        ("status", "why a model is up or down, and until when"),
        ("sleep", "put a model to sleep now"),
        ("usage", "minutes awake, wakes, requests and cost per day"),
    ):
        commands.add_parser(name, help=text).add_argument("model")
    wake = commands.add_parser("wake", help="wake a model, optionally with a lease that holds it up")
    wake.add_argument("model")
    # --keep-warm: the option's earlier name (keep_warm is the config's time windows), still accepted.
    wake.add_argument(
        "--lease",
        "--keep-warm",
        dest="lease",
        type=parse_duration,
        metavar="DURATION",
        help="hold the model up for this long, e.g. 2h or 90m (end it early: sleep, or DELETE /lease)",
    )
    usage = commands.choices["usage"]
    usage.add_argument("--days", type=int, default=7, help="how many days back, today included (default 7)")
    predict = commands.add_parser("predict", help="predict from a file (or - for stdin) of sequences")
    predict.add_argument("model")
    predict.add_argument("source", nargs="?", default="-", metavar="FILE|-")
    # --wait means one thing in every command: wait until it is done, at most SECONDS if given.
    predict.add_argument(
        "--wait",
        type=int,
        nargs="?",
        const=PREDICT_WAIT_SECONDS,
        default=PREDICT_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"wait for a waking model until it answers, at most SECONDS (default {PREDICT_WAIT_SECONDS})",
    )
    commands.add_parser("jobs", help="a queued prediction's state and result").add_argument("job_id")
    train = commands.add_parser("train", help="start the model's training pipeline")
    train.add_argument("model")
    train.add_argument(
        "--wait",
        type=int,
        nargs="?",
        const=0,
        default=None,
        metavar="SECONDS",
        help="wait until the run ends (following its steps), at most SECONDS if given",
    )
    train.add_argument("--poll-seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    return parser


def _predict(api: Api, args: argparse.Namespace, stdin: TextIO, sleep: Callable[[float], None]) -> Any:
    body = read_inputs(args.source, stdin)
    deadline = time.monotonic() + max(0, args.wait)
    while True:
        response = api.call("POST", f"/models/{args.model}/predict", json=body, expect=(200, 503))
        if response.status_code == 200:
            return response.json()
        retry = float(response.headers.get("retry-after", "5"))
        if time.monotonic() + retry > deadline:
            raise CliError(f"model {args.model} is still waking after {args.wait} s; retry, or raise --wait")
        print(f"{args.model} is waking; retrying in {retry:g} s ...", file=sys.stderr)
        sleep(retry)


def _train(
    args: argparse.Namespace, target: Target | None, session: Any, out: TextIO, sleep
) -> dict[str, Any]:
    aws = session()
    kwargs = {"endpoint_url": target.aws_url} if target is not None and target.aws_url else {}
    outputs = stack_outputs(aws.client("cloudformation", **kwargs), args.stack)
    alnum = re.sub(r"[^A-Za-z0-9]", "", args.model)
    arn = output_named(
        outputs,
        f"Model{alnum}TrainingStateMachine[0-9A-F]*",
        f"model {args.model}'s training pipeline",
        args.stack,
    )
    sfn = aws.client("stepfunctions", **kwargs)
    try:
        execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    except Exception as error:
        raise CliError(f"could not start model {args.model}'s training pipeline: {error}") from None
    if not args.json:
        print(f"started {execution}", file=out)
    if args.wait is None:
        return {"model": args.model, "execution": execution, "status": "RUNNING"}
    seen_step = None
    deadline = time.monotonic() + args.wait if args.wait else None
    while True:
        described = sfn.describe_execution(executionArn=execution)
        history = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=20)[
            "events"
        ]
        step = next(
            (e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e), None
        )
        if step != seen_step and step is not None and not args.json:
            print(f"  {datetime.now(UTC):%H:%M:%S}  {step}", file=out)
            seen_step = step
        if described["status"] in TERMINAL:
            break
        if deadline is not None and time.monotonic() + args.poll_seconds > deadline:
            raise CliError(
                f"training of {args.model} is still {described['status']} after {args.wait} s "
                f"({execution}); raise --wait, or follow it in the Step Functions console"
            )
        sleep(args.poll_seconds)
    result = {"model": args.model, "execution": execution, "status": described["status"]}
    if described["status"] != "SUCCEEDED":
        cause = described.get("cause") or described.get("error") or "see the execution in the console"
        raise CliError(f"training of {args.model} ended {described['status']}: {cause}")
    if not args.json:
        print(f"training of {args.model} succeeded", file=out)
    return result


def run(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO = sys.stdout,
    stdin: TextIO = sys.stdin,
    session: Callable[[], Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    args = _parser().parse_args(argv)
    if session is None:
        import boto3

        session = boto3.Session
    if args.command == "train":
        target = (
            resolve_target(local=True, url=None, api_key=None, stack=args.stack, session=session)
            if args.local
            else None
        )
        result = _train(args, target, session, out, sleep)
        if args.json:
            print(json.dumps(result), file=out)
        return 0
    target = resolve_target(
        local=args.local, url=args.url, api_key=args.api_key, stack=args.stack, session=session
    )
    api = Api(target)
    model = getattr(args, "model", None)
    if args.command == "models":
        body, show = api.call("GET", "/models").json(), show_models
    elif args.command == "status":
        body, show = api.call("GET", f"/models/{model}/status").json(), show_status
    elif args.command == "wake":
        payload = {"lease_minutes": args.lease} if args.lease else None
        body = api.call("POST", f"/models/{model}/wake", json=payload, expect=(200, 202)).json()
        show = lambda b, o: print(  # noqa: E731
            f"{b['model']}: {b['state']}"
            + (f", leased until {when(b['lease_until'])}" if b.get("lease_until") else ""),
            file=o,
        )
    elif args.command == "sleep":
        body = api.call("POST", f"/models/{model}/sleep", expect=(200, 202)).json()
        show = lambda b, o: print(f"{b['model']}: {b['state']}", file=o)  # noqa: E731
    elif args.command == "usage":
        body, show = api.call("GET", f"/models/{model}/usage", params={"days": args.days}).json(), show_usage
    elif args.command == "jobs":
        body, show = api.call("GET", f"/jobs/{args.job_id}").json(), show_job
    else:
        body, show = _predict(api, args, stdin, sleep), show_predictions
    if args.json:
        print(json.dumps(body, indent=2), file=out)
    else:
        show(body, out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except CliError as error:
        print(f"seqserve: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
