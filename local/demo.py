"""The demo: example requests through the REST API, each printed with what came back.

It follows one model through its lifecycle: predictions (waking it first), a batch with ``top_k``, a bad
input, the status, falling asleep once idle, the 503 with ``Retry-After`` that wakes it, and the
prediction once awake. Any answer other than the expected one ends the demo with exit status 1.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

SEQUENCE = "ATGGCGTACGTTAGCCTAGGCTAACGGTACGATCGATCGGCTAGCTAGGATCCGATCGTAGCTAGCTAGGCTA"
OTHER = "GGCCTTAAGGCCTTAGCGCGATATCGCGTTAACCGGTTAACGCGATCGATGCATGCAAGCTTGCATGCAT"
# Local endpoints take seconds (--create-seconds), not SageMaker's minutes that Retry-After is sized for.
LOCAL_RETRY_CAP_SECONDS = 2.0


class DemoFailure(RuntimeError):
    pass


def _show(response: httpx.Response) -> None:
    request = response.request
    print(f"\n>>> {request.method} {request.url.path}")
    if request.content:
        print(f"    {request.content.decode()}")
    extra = f"  Retry-After: {response.headers['retry-after']}" if "retry-after" in response.headers else ""
    # Who answered a prediction: its endpoint, or its Lambda function while the endpoint wakes (issue 21).
    extra += f"  X-Served-By: {response.headers['x-served-by']}" if "x-served-by" in response.headers else ""
    print(f"<<< {response.status_code}{extra}")
    try:
        print("    " + json.dumps(response.json(), indent=2).replace("\n", "\n    "))
    except ValueError:
        print(f"    {response.text}")


def _expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    _show(response)
    if response.status_code not in statuses:
        raise DemoFailure(f"expected HTTP {' or '.join(map(str, statuses))}, got {response.status_code}")
    return response


def _predict_until_awake(
    api: httpx.Client, model: str, body: dict[str, Any], *, attempts: int = 30
) -> httpx.Response:
    """Predict, honouring 503 + Retry-After (capped locally) until the model answers."""
    for _ in range(attempts):
        response = _expect(api.post(f"/models/{model}/predict", json=body), 200, 503)
        if response.status_code == 200:
            return response
        if "retry-after" not in response.headers:
            raise DemoFailure("a 503 without Retry-After")
        wait = min(float(response.headers["retry-after"]), LOCAL_RETRY_CAP_SECONDS)
        print(f"    (the model is waking; retrying in {wait:g} s)")
        time.sleep(wait)
    raise DemoFailure(f"{model} did not wake after {attempts} attempts")


def _until_served_by_endpoint(
    api: httpx.Client, model: str, body: dict[str, Any], *, attempts: int = 120
) -> httpx.Response:
    """Predict until the endpoint itself answers (X-Served-By: endpoint)."""
    for _ in range(attempts):
        time.sleep(LOCAL_RETRY_CAP_SECONDS)
        response = _predict_until_awake(api, model, body)
        if response.headers.get("x-served-by") == "endpoint":
            return response
    raise DemoFailure(f"{model}'s endpoint did not answer after {attempts} attempts")


def _status(api: httpx.Client, model: str) -> dict[str, Any]:
    return _expect(api.get(f"/models/{model}/status"), 200).json()


def run_demo(
    *,
    api_url: str,
    idle_timer: Any,
    api_key: str | None = None,
    model: str = "circrna",
    timeout_minutes: float = 4.0,
) -> int:
    print(f"API: {api_url}")
    headers = {"x-api-key": api_key} if api_key else {}
    try:
        with httpx.Client(base_url=api_url, timeout=30, headers=headers) as api:
            _expect(api.get("/models"), 200)
            _status(api, model)
            print("\n== A prediction (asleep: its Lambda function answers while it wakes, else 503)")
            _predict_until_awake(api, model, {"inputs": SEQUENCE})
            print("\n== A batch with top_k")
            _expect(
                api.post(
                    f"/models/{model}/predict", json={"inputs": [SEQUENCE, OTHER], "parameters": {"top_k": 2}}
                ),
                200,
            )
            print("\n== A bad input")
            _expect(api.post(f"/models/{model}/predict", json={"inputs": "HELLO, WORLD!"}), 400)
            print("\n== The status")
            status = _status(api, model)
            idle = status.get("idle_minutes")
            print(f"\n== Waiting for the model to fall asleep (idle {idle} min, then the idle check)")
            deadline = time.monotonic() + timeout_minutes * 60
            started = time.monotonic()
            while status.get("state") != "asleep":
                if time.monotonic() > deadline:
                    raise DemoFailure(
                        f"{model} still {status.get('state')!r} after {timeout_minutes} minutes"
                    )
                time.sleep(5)
                status = api.get(f"/models/{model}/status").json()
                print(f"    {time.monotonic() - started:5.0f} s: {status.get('state')}")
            _show(api.get(f"/models/{model}/status"))
            print(
                "\n== The next request wakes it: answered by the model's Lambda function while the endpoint "
                "wakes (the bridge), else 503 with Retry-After; then by the endpoint once it is in service"
            )
            first = _expect(api.post(f"/models/{model}/predict", json={"inputs": SEQUENCE}), 200, 503)
            if first.status_code == 503:
                if "retry-after" not in first.headers:
                    raise DemoFailure("a 503 without Retry-After")
            elif first.headers.get("x-served-by") != "lambda":
                raise DemoFailure("the endpoint was asleep, yet the answer says it was not served by lambda")
            _until_served_by_endpoint(api, model, {"inputs": SEQUENCE})
    except (DemoFailure, httpx.HTTPError) as error:
        print(f"\nDEMO FAILED: {error}")
        return 1
    print(f"\nDemo complete: the idle check ran {idle_timer.fired} times.")
    return 0
