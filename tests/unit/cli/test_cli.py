"""The `seqserve` CLI's own logic: durations, input files, where it finds the API, and `train` against
moto's CloudFormation and Step Functions (the stack's outputs name the pipeline)."""

from __future__ import annotations

import argparse
import io
import json
import os

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.models import stepfunctions_backends

from seqserve_cli.connection import CliError, resolve_target
from seqserve_cli.local_state import read_state, remove_state, write_state
from seqserve_cli.main import main, parse_duration, read_inputs, run

REGION = "us-east-1"


@pytest.mark.parametrize(("text", "minutes"), [("2h", 120), ("90m", 90), ("1h30m", 90), ("45", 45)])
def test_durations(text, minutes):
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["", "0", "2d", "h", "1.5h", "-5"])
def test_bad_durations_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="is not a duration"):
        parse_duration(text)


def test_inputs_from_lines_fasta_json_and_stdin(tmp_path):
    lines = tmp_path / "seqs.txt"
    lines.write_text("ACGT\n\nGGCC\n")
    assert read_inputs(str(lines), io.StringIO()) == {"inputs": ["ACGT", "GGCC"]}
    fasta = tmp_path / "seqs.fa"
    fasta.write_text(">a\nACG\nTTT\n>b\nGGG\n")
    assert read_inputs(str(fasta), io.StringIO()) == {"inputs": ["ACGTTT", "GGG"]}
    body = {"inputs": {"text": "a", "text_pair": "b"}}
    assert read_inputs("-", io.StringIO(json.dumps(body))) == body
    assert read_inputs("-", io.StringIO("ACGT\n")) == {"inputs": "ACGT"}


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "is empty"), ("{not json", "is not JSON")],
)
def test_bad_inputs_name_the_source(tmp_path, content, message):
    path = tmp_path / "in.txt"
    path.write_text(content)
    with pytest.raises(CliError, match=message):
        read_inputs(str(path), io.StringIO())
    with pytest.raises(CliError, match="does not exist"):
        read_inputs(str(tmp_path / "missing"), io.StringIO())


def test_local_state_file_round_trip_and_staleness(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQSERVE_LOCAL_STATE", str(tmp_path / "local.json"))
    with pytest.raises(CliError, match="no local stack is running"):
        resolve_target(local=True, url=None, api_key=None, stack="s", session=None)
    write_state(api_url="http://127.0.0.1:5/", aws_url="http://127.0.0.1:6")
    target = resolve_target(local=True, url=None, api_key=None, stack="s", session=None)
    assert (target.url, target.aws_url, target.api_key) == ("http://127.0.0.1:5", "http://127.0.0.1:6", None)
    # The local stack's API key (api.auth api_key), which `serve` writes and the CLI sends.
    write_state(api_url="http://127.0.0.1:5/", aws_url="http://127.0.0.1:6", api_key="local-key")
    assert resolve_target(local=True, url=None, api_key=None, stack="s", session=None).api_key == "local-key"
    assert (tmp_path / "local.json").stat().st_mode & 0o777 == 0o600
    # A file left by a process that is gone is not a running stack.
    (tmp_path / "local.json").write_text(json.dumps({"api": "http://x", "pid": 2**22 + 12345}))
    assert read_state() is None
    write_state(api_url="http://127.0.0.1:5", aws_url="http://127.0.0.1:6")
    remove_state()
    assert not (tmp_path / "local.json").exists()


def test_url_and_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEQSERVE_URL", "https://api.example.com/prod/")
    monkeypatch.setenv("SEQSERVE_API_KEY", "k")
    target = resolve_target(local=False, url=None, api_key=None, stack="s", session=None)
    assert (target.url, target.api_key) == ("https://api.example.com/prod", "k")
    with pytest.raises(CliError, match="is not an http"):
        resolve_target(local=False, url="api.example.com", api_key=None, stack="s", session=None)


def test_an_unreachable_api_is_one_line_naming_the_url(capsys, monkeypatch):
    monkeypatch.delenv("SEQSERVE_API_KEY", raising=False)
    assert main(["--url", "http://127.0.0.1:9", "models"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("seqserve: error: cannot reach the API at http://127.0.0.1:9")


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="circrna-training",
            definition=json.dumps({"StartAt": "Train", "States": {"Train": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {
                "ModelcircrnaTrainingStateMachine1A2B3C4D": {"Value": machine},
                "ApiUrl5E6F7A8B": {"Value": "https://abc.execute-api.us-east-1.amazonaws.com/prod/"},
            },
        }
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="seqserve-service", TemplateBody=json.dumps(template)
        )
        yield sfn, machine


def finish_runs(status: str):
    """moto starts executions but never runs them: play the pipeline ending on the first poll."""

    def sleep(_seconds: float) -> None:
        backend = stepfunctions_backends["123456789012"][REGION]
        for machine in backend.state_machines:
            for execution in machine.executions:
                execution.status = status

    return sleep


def test_train_starts_the_pipeline_from_the_stack_outputs_and_follows_it(aws):
    sfn, machine = aws
    out = io.StringIO()
    code = run(
        ["train", "circrna", "--wait", "--poll-seconds", "0"],
        out=out,
        session=boto3.Session,
        sleep=finish_runs("SUCCEEDED"),
    )
    assert code == 0
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    text = out.getvalue()
    assert f"started {execution['executionArn']}" in text
    assert "training of circrna succeeded" in text


def test_train_reports_a_failed_run(aws):
    with pytest.raises(CliError, match="training of circrna ended FAILED"):
        run(
            ["train", "circrna", "--wait", "--poll-seconds", "0"],
            out=io.StringIO(),
            session=boto3.Session,
            sleep=finish_runs("FAILED"),
        )


def test_train_without_wait_prints_json_for_scripts(aws):
    out = io.StringIO()
    assert run(["--json", "train", "circrna"], out=out, session=boto3.Session) == 0
    assert json.loads(out.getvalue())["status"] == "RUNNING"


def test_train_of_an_unknown_model_names_what_is_missing(aws, capsys):
    assert main(["train", "nosuch"]) == 1
    assert "has no output for model nosuch's training pipeline" in capsys.readouterr().err


def test_the_api_url_comes_from_the_stack_when_nothing_else_gives_it(aws, monkeypatch):
    monkeypatch.delenv("SEQSERVE_URL", raising=False)
    target = resolve_target(
        local=False, url=None, api_key="k", stack="seqserve-service", session=boto3.Session
    )
    assert target.url == "https://abc.execute-api.us-east-1.amazonaws.com/prod"
    with pytest.raises(CliError, match="could not read the outputs of stack 'other'"):
        resolve_target(local=False, url=None, api_key="k", stack="other", session=boto3.Session)
    assert os.environ["AWS_DEFAULT_REGION"] == REGION


def test_jobs_shows_a_queued_predictions_state_and_result(capsys, monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    job = {"id": "abc", "model": "circrna", "state": "done", "result": [{"label": "circRNA", "score": 0.9}]}
    seen: list[str] = []

    class Jobs(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            known = self.path == "/jobs/abc"
            body = job if known else {"error": {"code": "unknown_job", "message": "no job 'x'"}}
            data = json.dumps(body).encode()
            self.send_response(200 if known else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jobs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("SEQSERVE_API_KEY", raising=False)
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        out = io.StringIO()
        assert run(["--url", url, "jobs", "abc"], out=out) == 0
        assert "job abc (circrna): done" in out.getvalue() and "circRNA\t0.900" in out.getvalue()
        assert main(["--url", url, "jobs", "x"]) == 1
        assert "no job 'x' (unknown_job)" in capsys.readouterr().err
    finally:
        server.shutdown()
    assert seen == ["/jobs/abc", "/jobs/x"]


def test_a_lease_is_called_a_lease_and_the_old_option_still_works():
    """Issue 22, item 6: ``wake --lease`` (``--keep-warm`` still parses: existing scripts)."""
    from seqserve_cli.main import _parser

    assert _parser().parse_args(["wake", "circrna", "--lease", "2h"]).lease == 120
    assert _parser().parse_args(["wake", "circrna", "--keep-warm", "90m"]).lease == 90


def test_wait_means_wait_until_done_at_most_seconds_in_every_command():
    from seqserve_cli.main import PREDICT_WAIT_SECONDS, _parser

    parse = _parser().parse_args
    assert parse(["predict", "circrna", "--wait", "30"]).wait == 30
    assert parse(["predict", "circrna", "--wait"]).wait == PREDICT_WAIT_SECONDS
    assert parse(["train", "circrna", "--wait", "30"]).wait == 30
    assert parse(["train", "circrna", "--wait"]).wait == 0  # no limit
    assert parse(["train", "circrna"]).wait is None


def test_train_wait_seconds_gives_up_naming_the_run(aws):
    with pytest.raises(CliError, match=r"training of circrna is still RUNNING after 1 s .*raise --wait"):
        run(
            ["train", "circrna", "--wait", "1", "--poll-seconds", "5"],
            out=io.StringIO(),
            session=boto3.Session,
            sleep=lambda _s: None,
        )
