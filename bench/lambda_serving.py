"""The Lambda-hosted model (lambdas/model_server): its cold start broken down, its warm latency next to
the endpoint's, its asset's size, its memory.

Measured here, on this machine, not on Lambda:

* cold start, in a fresh process per start (``STARTS`` of them, medians reported), with torch,
  transformers and the packages the asset leaves out made unimportable: ``import`` (the handler module:
  boto3, model_code's handlers, ONNX Runtime, numpy, tokenizers, clients), ``artifact_fetch`` (find the
  artifact, HeadObject, stream and unpack model.tar.gz from moto's S3 in server mode over HTTP),
  ``session_creation`` (tokenizer and InferenceSession), ``first_prediction``; on Lambda the fetch is
  bounded by S3's throughput instead (README, "Serving from Lambda");
* warm latency: ``WARM_REQUESTS`` single-sequence invocations of the handler in that process, and the
  same bodies as POST /invocations to the BYOC server (model_code/serve, ONNX runtime, one worker), the
  endpoint's path, both sequential at one ONNX Runtime thread; median and p90 in ms;
* the function process's peak resident memory (VmHWM), and the synthesized asset's unzipped size.

The model is the circrna model of bench.serving_runtimes (exported to ONNX there).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STARTS = 3
WARM_REQUESTS = 200
ABSENT = (
    "torch",
    "transformers",
    "google.protobuf",
    "flatbuffers",
    "coloredlogs",
    "sympy",
    "uvicorn",
    "starlette",
)
FUNCTION = """
import json, sys, time
for name in ABSENT:
    sys.modules[name] = None
sys.path.insert(0, LAMBDAS)
started = time.perf_counter()
import model_server.handler as module
imported = time.perf_counter() - started
bodies = json.loads(open(sys.argv[1]).read())
answer = module.handler({"body": bodies[0], "content_type": "application/json"}, None)
assert answer["status"] == 200, answer
warm = []
for body in bodies[1:]:
    began = time.perf_counter()
    answer = module.handler({"body": body, "content_type": "application/json"}, None)
    warm.append(time.perf_counter() - began)
    assert answer["status"] == 200, answer
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"import": imported, **module.server.timings, "warm": warm, "peak_rss_kb": rss}))
"""


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(len(ordered) * 0.9)] * 1000, 2),
    }


def _function_run(bodies: list[str], env: dict[str, str], scratch: Path) -> dict:
    script = f"ABSENT = {ABSENT!r}\nLAMBDAS = {str(REPO / 'lambdas')!r}\n" + FUNCTION
    requests = scratch / "requests.json"
    requests.write_text(json.dumps(bodies))
    result = subprocess.run(
        [sys.executable, "-c", script, str(requests)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the function process failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def _asset_size() -> dict[str, object]:
    from stacks.model_server_asset import stage_model_server, unzipped_bytes

    with tempfile.TemporaryDirectory() as scratch:
        folder = stage_model_server(Path(scratch) / "asset")
        parts = {
            name: unzipped_bytes(folder / name)
            for name in ("onnxruntime", "numpy", "numpy.libs", "tokenizers", "model_code", "model_server")
            if (folder / name).exists()
        }
        return {
            "unzipped_mb": round(unzipped_bytes(folder) / 2**20, 1),
            "parts_mb": {name: round(size / 2**20, 1) for name, size in parts.items()},
            "how": "stage_model_server (stacks/model_server_asset.py): the folder synth zips, sizes summed",
        }


def run() -> dict[str, object]:
    from moto.server import ThreadedMotoServer

    from bench.inference import _sequences
    from bench.serving_runtimes import Server, _prepare_model
    from model_code.package import write_archive

    load_before = os.getloadavg()
    model_dir, model_source, _ = _prepare_model()
    sequences, sequence_source = _sequences(WARM_REQUESTS + 1)
    bodies = [json.dumps({"inputs": s}) for s in sequences]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            archive = write_archive(model_dir=model_dir, output=scratch / "model.tar.gz")
            aws = {
                "AWS_ENDPOINT_URL": f"http://{host}:{port}",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
            }
            import boto3

            s3 = boto3.client(
                "s3",
                endpoint_url=aws["AWS_ENDPOINT_URL"],
                region_name="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            )
            s3.create_bucket(Bucket="bench")
            s3.upload_file(str(archive), "bench", "circrna/model.tar.gz")
            base = {k: v for k, v in os.environ.items() if not k.startswith(("SEQSERVE_", "AWS_"))}
            env = {
                **base,
                **aws,
                "PYTHONPATH": str(REPO),
                "MODEL_NAME": "circrna",
                "MODEL_DATA": "s3://bench/circrna/model.tar.gz",
                "ORT_THREADS": "1",
            }
            starts = []
            for index in range(STARTS):
                bodies_now = bodies if index == STARTS - 1 else bodies[:1]
                starts.append(
                    _function_run(
                        bodies_now, {**env, "MODEL_CACHE_DIR": str(scratch / f"tmp{index}")}, scratch
                    )
                )
            endpoint = Server("onnx", model_dir, scratch)
            try:
                for body in bodies[:10]:
                    endpoint.post(body)
                endpoint_warm = []
                for body in bodies[1:]:
                    began = time.perf_counter()
                    endpoint.post(body)
                    endpoint_warm.append(time.perf_counter() - began)
            finally:
                endpoint.stop()
    finally:
        server.stop()
    phases = ("import", "artifact_fetch", "session_creation", "first_prediction")
    cold = {phase: round(statistics.median(s[phase] for s in starts), 3) for phase in phases}
    cold["total"] = round(sum(cold.values()), 3)
    return {
        "model": model_source,
        "model_onnx_mb": round(onnx_size_mb(model_dir), 2),
        "request_sequences": sequence_source,
        "cold_start_seconds_median": cold,
        "cold_start_seconds_each": [{p: round(s[p], 3) for p in phases} for s in starts],
        "warm_single_request": {
            "function_handler": _ms(starts[-1]["warm"]),
            "endpoint_http_invocations": _ms(endpoint_warm),
            "requests": WARM_REQUESTS,
            "ort_threads": 1,
        },
        "function_peak_rss_mb": round(starts[-1]["peak_rss_kb"] / 1024, 1),
        "asset": _asset_size(),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def onnx_size_mb(model_dir: Path) -> float:
    return (model_dir / "model.onnx").stat().st_size / 2**20
