"""The BYOC model server, started as SageMaker starts it (the ``serve`` command) on 127.0.0.1, over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
from starlette.testclient import TestClient

from model_code import inference
from model_code.serving.payload import Request
from model_code.serving.server import ServerConfig, WorkerSlots, create_app, visible_gpus
from tests.trained_models import score_spread, train_briefly
from tests.unit.model_code.test_inference import CIRCRNA_SEQUENCES, write_model_dir

REPO = Path(__file__).resolve().parents[3]
SERVE = REPO / "model_code" / "serve"
JSON_TYPE = {"content-type": "application/json"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One ``serve`` process with its own model dir and environment."""

    def __init__(self, model_dir: Path, log: Path, **environment: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEQSERVE_", "SAGEMAKER_"))}
        env.update(
            SEQSERVE_MODEL_DIR=str(model_dir),
            SAGEMAKER_BIND_TO_PORT=str(self.port),
            SAGEMAKER_MODEL_SERVER_WORKERS="1",
            PYTHONPATH=str(REPO),
            **environment,
        )
        self.log = log
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                [sys.executable, str(SERVE), "--host", "127.0.0.1"], env=env, stdout=sink, stderr=sink
            )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"serve did not become ready in {timeout} s:\n{self.log.read_text()}")

    def post(
        self, body: bytes | str, headers: dict[str, str] | None = None, timeout: float = 60
    ) -> httpx.Response:
        return httpx.post(
            f"{self.url}/invocations", content=body, headers=headers or JSON_TYPE, timeout=timeout
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, tiny_backbone) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("served")
    # Trained a few steps, so the server's answers agreeing with the handlers' means something.
    return {
        "circrna": train_briefly(write_model_dir(root / "circrna", preset_name="circrna")),
        "entailment": train_briefly(
            write_model_dir(
                root / "entailment", preset_name="entailment", backbone=tiny_backbone("bert-base-uncased")
            )
        ),
        # Inputs longer than 64 k-mers per end make this model raise inside forward().
        "fragile": write_model_dir(root / "fragile", preset_name="circrna", max_positions=64),
    }


@pytest.fixture(scope="module")
def servers(model_dirs, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    started = {
        "circrna": Server(
            model_dirs["circrna"],
            logs / "circrna.log",
            SEQSERVE_MAX_INPUTS="6",
            SEQSERVE_MAX_CHARS="2000",
            SEQSERVE_MAX_BODY_BYTES="4096",
        ),
        "entailment": Server(model_dirs["entailment"], logs / "entailment.log"),
        "fragile": Server(
            model_dirs["fragile"],
            logs / "fragile.log",
            SAGEMAKER_MODEL_SERVER_TIMEOUT="1",
            SEQSERVE_MAX_INPUTS="5000",
            SEQSERVE_MICRO_BATCH="1",
        ),
    }
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def local_model(model_dirs):
    """The same handlers in this process, to compare the server's answers with."""
    threads = torch.get_num_threads()
    yield inference.model_fn(str(model_dirs["circrna"]))
    torch.set_num_threads(threads)


def handled(model, body, content_type="application/json"):
    payload, _ = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, content_type), model), None
    )
    return json.loads(payload)


def test_ping_answers_200_once_the_model_is_loaded(servers):
    response = httpx.get(f"{servers['circrna'].url}/ping")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (json.dumps({"inputs": CIRCRNA_SEQUENCES[0]}), "application/json"),
        (json.dumps({"inputs": list(CIRCRNA_SEQUENCES), "parameters": {"top_k": 2}}), "application/json"),
        (f">a\n{CIRCRNA_SEQUENCES[1]}\n>b\n{CIRCRNA_SEQUENCES[2]}\n", "text/x-fasta"),
        (CIRCRNA_SEQUENCES[3], "text/plain"),
    ],
)
def test_invocations_answer_what_the_handlers_answer(servers, local_model, body, content_type):
    response = servers["circrna"].post(body, {"content-type": content_type, "accept": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == handled(local_model, body, content_type)


def test_the_compared_model_scores_the_inputs_differently(local_model):
    """The agreement above is no accident of a model that scores every input the same."""
    names = tuple(f"inputs[{i}]" for i in range(len(CIRCRNA_SEQUENCES)))
    request = Request(inputs=CIRCRNA_SEQUENCES, names=names, top_k=None, content_type="application/json")
    assert score_spread(local_model.predict(request).scores) > 0.1


def test_pairs_are_served_for_a_pair_preset(servers):
    body = {
        "inputs": [{"text": "a man is sleeping", "text_pair": "a person rests"}],
        "parameters": {"top_k": 3},
    }
    response = servers["entailment"].post(json.dumps(body))
    assert response.status_code == 200
    assert {entry["label"] for entry in response.json()[0]} == {"entailment", "neutral", "contradiction"}


@pytest.mark.parametrize(
    ("server", "body", "headers", "status", "code", "message"),
    [
        ("circrna", '{"inputs": []}', JSON_TYPE, 400, "invalid_input", "inputs is an empty list"),
        (
            "circrna",
            '{"inputs": ["ACGT", ""]}',
            JSON_TYPE,
            400,
            "invalid_input",
            "inputs[1]: the sequence is empty",
        ),
        ("circrna", '{"inputs": 12}', JSON_TYPE, 400, "invalid_input", "inputs must be a string or"),
        ("circrna", '{"inputs": "ACGT!"}', JSON_TYPE, 400, "invalid_input", "character '!' at position 5"),
        ("circrna", "not json", JSON_TYPE, 400, "invalid_input", "the body is not valid JSON"),
        (
            "circrna",
            '{"inputs": {"text": "ACGT", "text_pair": "ACGT"}}',
            JSON_TYPE,
            400,
            "invalid_input",
            "inputs: a pair was sent but this model takes one sequence per input",
        ),
        ("circrna", json.dumps({"inputs": ["ACGT"] * 7}), JSON_TYPE, 413, "too_many_inputs", "at most 6"),
        (
            "circrna",
            json.dumps({"inputs": "A" * 2500}),
            JSON_TYPE,
            413,
            "too_long",
            "at most 2000 per sequence",
        ),
        ("circrna", "ACGT", {"content-type": "text/csv"}, 415, "unsupported_media_type", "'text/csv'"),
        (
            "circrna",
            '{"inputs": "ACGT"}',
            {**JSON_TYPE, "accept": "text/html"},
            406,
            "not_acceptable",
            "text/html",
        ),
        (
            "entailment",
            '{"inputs": "a man"}',
            JSON_TYPE,
            400,
            "invalid_input",
            "inputs: this model takes a pair per input",
        ),
        ("entailment", "a man", {"content-type": "text/plain"}, 415, "unsupported_media_type", "takes text"),
    ],
)
def test_handler_errors_keep_their_status_and_json_body(
    servers, server, body, headers, status, code, message
):
    response = servers[server].post(body, headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and message in error["message"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(servers):
    big = json.dumps({"inputs": ["ACGT" * 375] * 3})  # over the 4096-byte limit this server has
    declared = servers["circrna"].post(big)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"
    streamed = httpx.post(
        f"{servers['circrna'].url}/invocations",
        content=(chunk.encode() for chunk in (big[:3000], big[3000:])),  # chunked: no Content-Length
        headers=JSON_TYPE,
    )
    assert streamed.status_code == 413


def test_unknown_routes_and_methods_get_json_errors(servers):
    url = servers["circrna"].url
    assert httpx.get(f"{url}/predict").json()["error"]["code"] == "not_found"
    wrong_method = httpx.get(f"{url}/invocations")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_a_crash_inside_the_model_is_a_short_500_and_the_server_keeps_serving(servers):
    fragile = servers["fragile"]
    crashed = fragile.post(json.dumps({"inputs": "ACGT" * 100}))
    assert crashed.status_code == 500
    assert crashed.json() == {
        "error": {"code": "model_error", "message": "the model failed on this request (ValueError)"}
    }
    assert "Traceback" not in crashed.text
    assert fragile.post(json.dumps({"inputs": "ACGTACGTAC"})).status_code == 200
    assert "ValueError" in fragile.log.read_text()  # the traceback goes to the log, not to the client


def test_a_request_over_the_timeout_gets_504_and_the_server_recovers(servers):
    fragile = servers["fragile"]
    slow = json.dumps({"inputs": ["ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTAC"] * 3000})
    started = time.monotonic()
    response = fragile.post(slow)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "model_timeout"
    assert time.monotonic() - started < 30
    deadline = time.monotonic() + 120
    while fragile.post(json.dumps({"inputs": "ACGTACGTAC"})).status_code != 200:
        assert time.monotonic() < deadline, "the server did not recover after a timed-out request"
        time.sleep(0.5)


def test_ping_is_503_until_loading_starts_and_500_when_loading_fails(tmp_path):
    app = create_app(ServerConfig(model_dir=tmp_path / "absent"))
    before_startup = TestClient(app).get("/ping")  # no lifespan: the loader has not run
    assert before_startup.status_code == 503
    assert before_startup.json()["error"]["code"] == "loading"
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while (response := client.get("/ping")).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "model_load_failed"
        assert "seqserve.json is missing" in response.json()["error"]["message"]
        assert client.post("/invocations", content=b'{"inputs": "ACGT"}').status_code == 500


def test_server_config_reads_sagemaker_variables_and_names_a_bad_one():
    config = ServerConfig.from_environ(
        {"SAGEMAKER_BIND_TO_PORT": "9000", "SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SEQSERVE_MODEL_DIR": "/m"}
    )
    assert (config.port, config.workers, config.model_dir) == (9000, 3, Path("/m"))
    assert ServerConfig.from_environ({}).port == 8080
    assert ServerConfig.from_environ({}).model_dir == Path("/opt/ml/model")
    with pytest.raises(ValueError, match="SAGEMAKER_MODEL_SERVER_TIMEOUT"):
        ServerConfig.from_environ({"SAGEMAKER_MODEL_SERVER_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match="port must be from 1 to 65535"):
        ServerConfig.from_environ({"SAGEMAKER_BIND_TO_PORT": "70000"})


def test_serve_exits_2_with_the_reason_on_a_bad_setting():
    env = {**os.environ, "PYTHONPATH": str(REPO), "SAGEMAKER_BIND_TO_PORT": "http"}
    result = subprocess.run(
        [sys.executable, str(SERVE)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "SAGEMAKER_BIND_TO_PORT" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_every_file_the_image_copies_exists_in_its_build_context():
    context = REPO / "model_code"
    lines = (context / "Dockerfile").read_text().splitlines()
    copied = [source for line in lines if line.startswith("COPY ") for source in line.split()[1:-1]]
    assert copied, "the Dockerfile copies nothing"
    for pattern in copied:
        assert list(context.glob(pattern)), f"COPY {pattern}: nothing in model_code/ matches"


def test_a_gpu_host_gets_one_worker_per_gpu_and_each_worker_its_own_gpu(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidia2", "nvidia3", "nvidiactl", "nvidia-uvm"):
        (dev / name).touch()
    assert visible_gpus({}, dev=dev) == ("0", "1", "2", "3")
    assert ServerConfig.from_environ({}, dev=dev).workers == 4
    assert ServerConfig.from_environ({"CUDA_VISIBLE_DEVICES": "2,3"}, dev=dev).gpus == ("2", "3")
    assert ServerConfig.from_environ({"CUDA_VISIBLE_DEVICES": "2,3"}, dev=dev).workers == 2
    assert ServerConfig.from_environ({"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}, dev=dev).workers == 1
    cpu_only = tmp_path / "cpu-dev"
    cpu_only.mkdir()
    assert ServerConfig.from_environ({}, dev=cpu_only).workers == (os.cpu_count() or 1)
    assert ServerConfig.from_environ({"CUDA_VISIBLE_DEVICES": "-1"}, dev=dev).gpus == ()


def test_ping_is_200_only_once_every_worker_has_loaded(tmp_path, model_dirs, monkeypatch):
    workers = tmp_path / "workers"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    config = ServerConfig(model_dir=model_dirs["circrna"], workers=2, worker_dir=workers, gpus=("5", "7"))
    app = create_app(config)  # holds slot 0, so it sees the first GPU only
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while app.state.model_holder.model is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.model_holder.model is not None
        waiting = client.get("/ping")
        assert waiting.status_code == 503
        assert waiting.json()["error"] == {
            "code": "loading",
            "message": "1 of 2 workers have loaded the model",
        }
        # The second worker (another slot holder) loads: now every worker answers.
        other = WorkerSlots(workers, 2)
        assert other.claim() == 1
        assert client.get("/ping").status_code == 503
        other.mark_ready(1)
        assert client.get("/ping").status_code == 200


def test_a_dead_workers_slot_is_not_counted_as_loaded(tmp_path):
    script = (
        "import sys, time; from pathlib import Path; from model_code.serving.server import WorkerSlots; "
        "s = WorkerSlots(Path(sys.argv[1]), 2); s.mark_ready(s.claim()); "
        "print('held', flush=True); time.sleep(60)"
    )
    slots = WorkerSlots(tmp_path, 2)
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout.readline().strip() == "held"
        assert slots.loaded() == 1
        assert slots.claim() == 1  # slot 0 is the live child's
    finally:
        child.kill()
        child.wait()
    assert slots.loaded() == 0  # the dead child's mark no longer counts
    again = WorkerSlots(tmp_path, 2)
    assert again.claim() == 0  # and its slot is free for the worker that replaces it


def test_a_timed_out_request_stops_running_and_frees_its_worker(tmp_path, monkeypatch):
    layer = torch.nn.Linear(4, 4)
    progress = {"calls": 0}
    stopped = threading.Event()
    total = 10**8  # far longer than the test may run: only a stop ends it

    def predict_fn(data, model):
        try:
            if data == b"slow":
                with torch.no_grad():
                    for _ in range(total):
                        model(torch.zeros(1, 4))
                        progress["calls"] += 1
            return data
        finally:
            if data == b"slow":
                stopped.set()

    monkeypatch.setattr(inference, "model_fn", lambda model_dir: layer)
    monkeypatch.setattr(inference, "input_fn", lambda body, content_type: body)
    monkeypatch.setattr(inference, "predict_fn", predict_fn)
    monkeypatch.setattr(inference, "output_fn", lambda prediction, accept: ("[]", "application/json"))
    app = create_app(ServerConfig(model_dir=tmp_path, timeout_seconds=0.5))
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while client.get("/ping").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        timed_out = client.post("/invocations", content=b"slow")
        assert timed_out.status_code == 504
        assert timed_out.json()["error"]["code"] == "model_timeout"
        # The abandoned computation stops (at its next layer) instead of running to the end.
        assert stopped.wait(30), "the timed-out request kept running"
        assert 0 < progress["calls"] < total
        calls = progress["calls"]
        assert client.post("/invocations", content=b"fast").status_code == 200
        assert progress["calls"] == calls
