"""The operator features end to end on the local stack, driven by the `seqserve` CLI with --local:
a wake with a lease, a prediction from a file through a waking model, status, usage, sleep now."""

from __future__ import annotations

import io
import json
import time

import pytest

from local.stack import LocalStack
from seqserve_cli.local_state import write_state
from seqserve_cli.main import run
from tests.integration.conftest import SEQUENCE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(wall_clock_stack: LocalStack) -> LocalStack:
    return wall_clock_stack


def cli(*argv: str) -> str:
    out = io.StringIO()
    # A local endpoint is in service at once: the CLI's waits on Retry-After are shortened.
    assert run(["--local", *argv], out=out, sleep=lambda seconds: time.sleep(min(seconds, 0.5))) == 0
    return out.getvalue()


def status(api) -> dict:
    return api.get("/models/circrna/status").json()


def test_lease_predict_usage_and_sleep_through_the_cli(stack, api, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQSERVE_LOCAL_STATE", str(tmp_path / "local.json"))
    write_state(api_url=stack.api_url, aws_url=stack.moto.url, api_key=stack.api_key)

    assert "circrna" in cli("models")
    woken = cli("wake", "circrna", "--lease", "30m")
    assert woken.startswith(("circrna: waking, leased until ", "circrna: awake, leased until "))

    sequences = tmp_path / "seqs.txt"
    sequences.write_text(f"{SEQUENCE}\n{SEQUENCE[::-1]}\n")
    lines = cli("predict", "circrna", str(sequences)).strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["0", "1"]
    assert all(line.split("\t")[1] in {"circRNA", "lncRNA"} for line in lines)

    # The endpoint serves once InService; the reconciler's next run (every 0.5 s here) records "awake".
    deadline = time.monotonic() + 60
    while (body := json.loads(io_json("status", "circrna")))["state"] != "awake":
        assert time.monotonic() < deadline, body
        time.sleep(0.5)
    assert "lease" in body["up_reasons"] and body["lease_until"] > time.time() + 25 * 60
    assert "up because:     traffic, lease" in cli("status", "circrna")

    usage = json.loads(io_json("usage", "circrna"))
    assert usage["days"][-1]["requests"] >= 1 and usage["days"][-1]["wakes"] == 1
    assert "minutes only" in cli("usage", "circrna", "--days", "2")

    assert cli("sleep", "circrna").strip() == "circrna: sleeping"
    assert status(api)["lease_until"] is None
    deadline = time.monotonic() + 30
    while status(api)["state"] != "asleep" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status(api)["state"] == "asleep"


def io_json(*argv: str) -> str:
    out = io.StringIO()
    assert run(["--local", "--json", *argv], out=out) == 0
    return out.getvalue()


def test_cli_errors_are_one_line_and_non_zero(stack, tmp_path, monkeypatch, capsys):
    from seqserve_cli.main import main

    monkeypatch.setenv("SEQSERVE_LOCAL_STATE", str(tmp_path / "local.json"))
    # A state file without the key (as an older `serve` wrote): the local API refuses as API Gateway does.
    write_state(api_url=stack.api_url, aws_url=stack.moto.url)
    assert main(["--local", "models"]) == 1
    err = capsys.readouterr().err.strip()
    assert "HTTP 403: Forbidden (client_error)" in err and "--api-key or SEQSERVE_API_KEY" in err
    write_state(api_url=stack.api_url, aws_url=stack.moto.url, api_key=stack.api_key)
    assert main(["--local", "status", "nosuch"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HTTP 404" in err[0] and "model 'nosuch' is not deployed" in err[0]
    assert main(["--local", "usage", "circrna", "--days", "0"]) == 1
    assert "days must be an integer from 1 to 90" in capsys.readouterr().err


def test_serve_tells_seqserve_local_where_it_is(trained_model, tmp_path, monkeypatch):
    """`python -m local serve` writes the state file once it takes requests and removes it on Ctrl-C;
    the installed CLI (run as `python -m seqserve_cli`) finds the API through it."""
    import os
    import signal
    import subprocess
    import sys

    from tests.integration.test_serve_command import REPO_ROOT, read_lines, serve, stop_everything

    state = tmp_path / "local.json"
    monkeypatch.setenv("SEQSERVE_LOCAL_STATE", str(state))
    process = serve("--model", f"circrna={trained_model}", "--work-dir", str(tmp_path / "work"))
    try:
        lines = read_lines(process)
        output = [lines.get(timeout=180)]
        while not output[-1].startswith("API: "):
            output.append(lines.get(timeout=180))
        api_url = output[-1].split("API: ", 1)[1].strip()
        assert json.loads(state.read_text())["api"] == api_url
        listed = subprocess.run(
            [sys.executable, "-m", "seqserve_cli", "--local", "--json", "models"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert [m["model"] for m in json.loads(listed.stdout)["models"]] == ["circrna"]
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert not state.exists()
    finally:
        stop_everything(process)
