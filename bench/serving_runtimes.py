"""torch vs ONNX Runtime serving: installed size, start to first /ping 200, throughput, worker memory.

Each figure is measured for both runtimes in this one run, under the same CPU load, and reported with
their ratio:

* installed size of each image's serving dependencies: ``pip install --target`` of
  ``requirements-serving.txt`` plus torch (the CPU wheel, as the cpu image installs it) and of
  ``requirements-serving-onnx.txt`` into two temporary folders, then their size on disk (``du``);
* process start to the first ``GET /ping`` 200 of the BYOC server (``model_code/serve``, one worker)
  with the circrna model, median of ``STARTS`` starts each;
* requests/s with one sequence per request and sequences/s with 32 per request, over HTTP through that
  server, sequentially, at the serving default of one intra-op thread (``SEQSERVE_TORCH_THREADS``);
* peak resident memory (VmHWM) of that one serving worker process after the requests.

The ONNX server runs with torch and transformers made unimportable, as in the cpu-onnx image, which has
neither. The model
is the circrna model the training benchmark writes (else a fallback trained here, see bench.inference),
copied and exported to ONNX here. The load average before and after is part of the result.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL_DIR = REPO / "bench" / "out" / "serving-runtimes-model"
STARTS = 3
SINGLE_REQUESTS = 200
BATCH_REQUESTS = 15
BATCH_SIZE = 32
THREADS = "1"
TORCH_VERSION = "2.13.0"
NO_TORCH = "import sys\nsys.modules['torch'] = None\nsys.modules['transformers'] = None\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _du_bytes(path: Path) -> int:
    return int(
        subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    )


def installed_sizes() -> dict[str, object]:
    requirements = REPO / "model_code"
    with tempfile.TemporaryDirectory() as root:
        sizes = {}
        for runtime, extra in (
            ("torch", ["-r", str(requirements / "requirements-serving.txt"), f"torch=={TORCH_VERSION}"]),
            ("onnx", ["-r", str(requirements / "requirements-serving-onnx.txt")]),
        ):
            target = Path(root) / runtime
            pip = [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-cache-dir",
                "--target",
                str(target),
            ]
            subprocess.run([*pip, *extra], check=True)
            sizes[runtime] = _du_bytes(target)
            if runtime == "torch":
                sizes["torch_package_only"] = _du_bytes(target / "torch")
    return {
        "torch_mb": round(sizes["torch"] / 2**20, 1),
        "onnx_mb": round(sizes["onnx"] / 2**20, 1),
        "torch_package_alone_mb": round(sizes["torch_package_only"] / 2**20, 1),
        "onnx_vs_torch": round(sizes["onnx"] / sizes["torch"], 3),
        "goal_onnx_at_most": 0.25,
        "goal_met": sizes["onnx"] <= 0.25 * sizes["torch"],
        "how": "pip install --target, one folder per runtime, du -sb; torch is the CPU wheel (+cpu)",
    }


class Server:
    def __init__(self, runtime: str, model_dir: Path, scratch: Path) -> None:
        import httpx

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEQSERVE_", "SAGEMAKER_"))}
        pythonpath = str(REPO)
        if runtime == "onnx":
            blocker = scratch / "no-torch"
            blocker.mkdir(exist_ok=True)
            (blocker / "sitecustomize.py").write_text(NO_TORCH)
            pythonpath = f"{blocker}{os.pathsep}{REPO}"
        env.update(
            PYTHONPATH=pythonpath,
            SEQSERVE_MODEL_DIR=str(model_dir),
            SAGEMAKER_BIND_TO_PORT=str(self.port),
            SAGEMAKER_MODEL_SERVER_WORKERS="1",
            SEQSERVE_TORCH_THREADS=THREADS,
            SEQSERVE_RUNTIME=runtime,
        )
        self.log = scratch / f"serve-{runtime}-{self.port}.log"
        started = time.perf_counter()
        with self.log.open("w") as sink:
            self.process = subprocess.Popen(
                [sys.executable, str(REPO / "model_code" / "serve"), "--host", "127.0.0.1"],
                env=env,
                stdout=sink,
                stderr=sink,
            )
        client = httpx.Client(timeout=60)
        while True:
            if self.process.poll() is not None or time.perf_counter() - started > 600:
                raise RuntimeError(f"serve ({runtime}) did not come up:\n{self.log.read_text()[-3000:]}")
            try:
                if client.get(f"{self.url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        self.ready_seconds = time.perf_counter() - started
        self.client = client

    def post(self, body: str) -> None:
        response = self.client.post(
            f"{self.url}/invocations", content=body, headers={"content-type": "application/json"}
        )
        if response.status_code != 200:
            raise RuntimeError(f"POST /invocations answered {response.status_code}: {response.text[:300]}")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        raise RuntimeError("no VmHWM in /proc status")

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _prepare_model() -> tuple[Path, str, dict]:
    from bench.inference import _model_dir
    from model_code.export.onnx_export import export_onnx

    source, description = _model_dir()
    weights = "model.safetensors"
    if (MODEL_DIR / weights).is_file() and filecmp.cmp(source / weights, MODEL_DIR / weights, shallow=False):
        record = json.loads((MODEL_DIR / "seqserve.json").read_text()).get("onnx", {})
        if record.get("parity", {}).get("passed") is True and (MODEL_DIR / "model.onnx").is_file():
            return MODEL_DIR, description, record  # exported by an earlier run from the same weights
    shutil.rmtree(MODEL_DIR, ignore_errors=True)
    shutil.copytree(source, MODEL_DIR, ignore=shutil.ignore_patterns("code", "*.png", "model.onnx"))
    record = export_onnx(MODEL_DIR)
    if not record["parity"]["passed"]:
        raise RuntimeError(f"the circrna model's ONNX export failed its parity check: {record['parity']}")
    return MODEL_DIR, description, record


def _serving(runtime: str, model_dir: Path, scratch: Path, singles: list[str], batches: list[str]) -> dict:
    starts = []
    for _ in range(STARTS - 1):
        server = Server(runtime, model_dir, scratch)
        starts.append(server.ready_seconds)
        server.stop()
    server = Server(runtime, model_dir, scratch)
    starts.append(server.ready_seconds)
    try:
        for body in singles[:10] + batches[:1]:  # warm-up: first calls allocate and pick kernels
            server.post(body)
        began = time.perf_counter()
        for body in singles:
            server.post(body)
        single_seconds = time.perf_counter() - began
        began = time.perf_counter()
        for body in batches:
            server.post(body)
        batch_seconds = time.perf_counter() - began
        rss = server.peak_rss_mb()
    finally:
        server.stop()
    return {
        "start_to_first_ping_200_seconds": [round(s, 2) for s in starts],
        "start_to_first_ping_200_median_seconds": round(statistics.median(starts), 2),
        "single_requests_per_second": round(len(singles) / single_seconds, 1),
        "batch_32_sequences_per_second": round(BATCH_SIZE * len(batches) / batch_seconds, 1),
        "worker_peak_rss_mb": rss,
    }


def run() -> dict[str, object]:
    from bench.inference import _sequences

    load_before = os.getloadavg()
    model_dir, model_source, record = _prepare_model()
    sequences, sequence_source = _sequences(SINGLE_REQUESTS + BATCH_REQUESTS * BATCH_SIZE)
    singles = [json.dumps({"inputs": s}) for s in sequences[:SINGLE_REQUESTS]]
    rest = sequences[SINGLE_REQUESTS:]
    batches = [json.dumps({"inputs": rest[i : i + BATCH_SIZE]}) for i in range(0, len(rest), BATCH_SIZE)]
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for runtime in ("torch", "onnx"):
            results[runtime] = _serving(runtime, model_dir, Path(scratch), singles, batches)
    sizes = installed_sizes()
    torch_result, onnx_result = results["torch"], results["onnx"]
    start_ratio = (
        onnx_result["start_to_first_ping_200_median_seconds"]
        / torch_result["start_to_first_ping_200_median_seconds"]
    )
    single_ratio = onnx_result["single_requests_per_second"] / torch_result["single_requests_per_second"]
    batch_ratio = onnx_result["batch_32_sequences_per_second"] / torch_result["batch_32_sequences_per_second"]
    return {
        "model": model_source,
        "onnx_export": {key: record[key] for key in ("exporter", "parity")},
        "request_sequences": sequence_source,
        "path": "HTTP through model_code/serve, 1 worker, sequential requests, application/json",
        "threads_per_worker": int(THREADS),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "installed_size": sizes,
        "torch": torch_result,
        "onnx": onnx_result,
        "ratios_onnx_vs_torch": {
            "start_to_first_ping_200": round(start_ratio, 3),
            "single_requests_per_second": round(single_ratio, 2),
            "batch_32_sequences_per_second": round(batch_ratio, 2),
            "worker_peak_rss": round(
                onnx_result["worker_peak_rss_mb"] / torch_result["worker_peak_rss_mb"], 3
            ),
        },
        "goals": {
            "installed_size_at_most_0.25": sizes["goal_met"],
            "start_at_most_one_third": start_ratio <= 1 / 3,
            "single_at_least_1x": single_ratio >= 1.0,
            "batch_32_at_least_1x": batch_ratio >= 1.0,
        },
    }
