"""``python -m local serve`` as a user runs it: the API line, requests, and Ctrl-C stopping everything."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import httpx
import pytest

from local.aws import CREDENTIALS, REGION
from local.processes import free_port

from .conftest import SEQUENCE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The command name may hold spaces and parentheses; the fields after its ")" do not.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "local", "serve", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Its own process group, so the Ctrl-C below reaches it (and whatever it left in its group) only.
        start_new_session=True,
    )


def read_lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def stop_everything(process: subprocess.Popen[str]) -> None:
    """After a failed assertion: Ctrl-C first, then kill whatever is left (its children included)."""
    if process.poll() is not None:
        return
    children = descendants(process.pid)
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for pid in children:
        if running(pid):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_stops_every_process(trained_model: Path, tmp_path: Path) -> None:
    port = free_port()
    process = serve(
        "--model",
        f"circrna={trained_model}",
        "--port",
        str(port),
        "--work-dir",
        str(tmp_path),
        # Long enough that the endpoint is still Creating when the test looks; it never waits for it.
        "--create-seconds",
        "600",
        "--fault",
        "DescribeEndpoint:throttle:0.5",
        "--fault-seed",
        "1",
    )
    try:
        lines = read_lines(process)
        output = []
        while not (output and output[-1].startswith("API: ")):
            output.append(lines.get(timeout=180))
        assert output[-1].strip() == f"API: http://127.0.0.1:{port}"
        assert "Endpoints: Creating 600 s, Deleting 2 s\n" in output
        assert "Faults: DescribeEndpoint:throttle:0.5 (seed 1)\n" in output
        [aws_line] = [line for line in output if line.startswith("AWS: ")]
        aws_url = aws_line.removeprefix("AWS: ").strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", aws_url)

        [key_line] = [line for line in output if line.startswith("API key: ")]
        key = key_line.removeprefix("API key: ").split()[0]
        assert re.fullmatch(r"[0-9a-f]{40}", key)

        api = f"http://127.0.0.1:{port}"
        # As API Gateway with api.auth api_key: no key (or a wrong one), 403 in the API's error shape.
        for headers in ({}, {"x-api-key": "not-the-key"}):
            refused = httpx.get(f"{api}/models", headers=headers, timeout=30)
            assert refused.status_code == 403
            assert refused.json() == {"error": {"code": "client_error", "message": "Forbidden"}}
        assert httpx.get(f"{api}/console", timeout=30).status_code == 200
        with_key = {"x-api-key": key}
        assert httpx.get(f"{api}/models", headers=with_key, timeout=30).status_code == 200
        woken = httpx.post(
            f"{api}/models/circrna/predict", json={"inputs": SEQUENCE}, headers=with_key, timeout=30
        )
        # The request starts the wake; the default config bridges it through the model's serving function
        # (200 from lambda), or, should that function not answer in time on a loaded machine, 503 waking.
        if woken.status_code == 200:
            assert woken.headers["x-served-by"] == "lambda"
        else:
            assert woken.status_code == 503 and woken.json()["error"]["code"] == "waking"
        # The AWS line is the embedded AWS, as `aws --endpoint-url` or boto3 use it (no fault here: the
        # faults are the Lambdas' only).
        sagemaker = boto3.client(
            "sagemaker",
            endpoint_url=aws_url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        [endpoint] = sagemaker.list_endpoints()["Endpoints"]
        assert endpoint["EndpointStatus"] == "Creating"
        assert "circrna" in endpoint["EndpointName"]
        started = descendants(process.pid)
        # The model server, eight invoker workers and one idle-checker worker at least.
        assert len(started) >= 10
        assert set(processes_mentioning(str(tmp_path))) <= started | {process.pid}
        assert len(processes_mentioning(str(tmp_path))) >= 10

        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert [pid for pid in started if running(pid)] == []
        assert processes_mentioning(str(tmp_path)) == []
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{api}/models", timeout=5)
    finally:
        stop_everything(process)


def serve_until_it_fails(*args: str | Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m local serve ARGS`` run to its end: for arguments it must refuse."""
    return subprocess.run(
        [sys.executable, "-m", "local", "serve", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("circrna", "is not NAME=MODEL_DIR"),
        ("circrna=/no/such/dir", "is not a directory"),
    ],
)
def test_bad_model_argument_is_a_clear_error(model: str, message: str) -> None:
    completed = serve_until_it_fails("--model", model, timeout=60)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ("--fault", "CreateEndpoint:explode:0.5"),
            "kind 'explode' is not one of throttle, error, timeout, lost",
        ),
        (("--fault", "CreateEndpoint:lost:2"), "--fault 'CreateEndpoint:lost:2': rate 2 is not in (0, 1]"),
        (
            ("--fault", "MakeEndpoint:lost:1"),
            "--fault 'MakeEndpoint:lost:1': 'MakeEndpoint' is not an operation",
        ),
        (
            ("--fault", "DeleteEndpoint:error:0.7", "--fault", "DeleteEndpoint:timeout:0.7"),
            "the rates for DeleteEndpoint add up to 1.4, more than 1",
        ),
        (("--create-seconds", "-3"), "argument --create-seconds: '-3' must be 0 or more seconds"),
        (("--delete-seconds", "soon"), "argument --delete-seconds: 'soon' is not a number of seconds"),
    ],
)
def test_bad_timing_or_fault_arguments_are_clear_errors(arguments: tuple[str, ...], message: str) -> None:
    completed = serve_until_it_fails(*arguments, timeout=60)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_directory_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    completed = serve_until_it_fails("--model", f"circrna={tmp_path}", "--work-dir", tmp_path, timeout=60)
    assert completed.returncode == 2
    assert "not a trained model directory" in completed.stderr
    assert "Traceback" not in completed.stderr


def processes_mentioning(text: str) -> list[int]:
    """Processes whose command line or environment holds ``text`` (a path unique to one test)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and running(int(entry.name)):
            try:
                if text.encode() in (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
    return found


def test_an_incomplete_model_directory_is_a_clear_error_before_anything_starts(tmp_path: Path) -> None:
    model_dir = tmp_path / "half"
    model_dir.mkdir()
    (model_dir / "seqserve.json").write_text('{"preset": "circrna", "labels": ["circRNA", "lncRNA"]}')
    completed = serve_until_it_fails("--model", f"circrna={model_dir}", "--work-dir", tmp_path, timeout=180)
    assert completed.returncode == 1
    assert f"--model-dir {model_dir}: config.json is missing" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert processes_mentioning(str(tmp_path)) == []


def test_a_model_that_does_not_load_is_a_clear_error_and_leaves_no_process(tmp_path: Path) -> None:
    model_dir = tmp_path / "untrained"
    model_dir.mkdir()
    (model_dir / "seqserve.json").write_text('{"preset": "circrna", "labels": ["circRNA", "lncRNA"]}')
    # Complete enough to package as model.tar.gz; only loading it fails.
    (model_dir / "config.json").write_text("{}")
    (model_dir / "model.safetensors").write_bytes(b"not weights")
    completed = serve_until_it_fails("--model", f"circrna={model_dir}", "--work-dir", tmp_path, timeout=180)
    assert completed.returncode == 1
    assert f"model server circrna could not load {model_dir}" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert processes_mentioning(str(tmp_path)) == []
