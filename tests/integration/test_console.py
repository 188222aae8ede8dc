"""The web console in a real browser (Debian's chromium, driven by Playwright) against the local stack,
as a person would use it: load, see the model, predict one sequence while it wakes, a FASTA batch, a
400 explained, at phone width. Screenshots of each step go to tests/output/console/."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from local.stack import LocalStack

from .conftest import SEQUENCE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(wall_clock_stack: LocalStack) -> LocalStack:
    return wall_clock_stack


OTHER = "GGCCTTAAGGCCTTAGCGCGATATCGCGTTAACCGGTTAACGCGATCGATGCATGCAAGC"
SHOTS = Path(__file__).resolve().parents[1] / "output" / "console"
# Debian's package (make install / .ci/run install it); Playwright never downloads a browser here.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def origin(url: str) -> str:
    parts = urlsplit(url.removeprefix("blob:"))
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="module")
def browser_page(stack: LocalStack) -> Iterator[tuple[Page, list[str]]]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            yield page, requested
        finally:
            browser.close()


def test_console_in_a_browser(stack: LocalStack, browser_page: tuple[Page, list[str]]) -> None:
    page, requested = browser_page
    page.goto(f"{stack.api_url}/console")

    # The local API checks the key as API Gateway does: the page's first call gets 403, and it asks.
    key_panel = page.get_by_role("region", name="API key")
    expect(key_panel).to_be_visible(timeout=30_000)
    assert stack.api_key is not None
    page.get_by_role("textbox", name="API key").fill(stack.api_key)
    page.get_by_role("button", name="Use this key").click()
    expect(key_panel).to_be_hidden()

    # The model, its state and the evaluation metrics of the artifact it serves.
    card = page.get_by_role("article", name="circrna")
    expect(card).to_be_visible(timeout=30_000)
    expect(card.locator(".state")).to_have_text("asleep")
    expect(card.get_by_text("accuracy")).to_be_visible()
    expect(card.get_by_role("img", name="Confusion matrix of circrna")).to_be_visible()
    assert card.get_by_role("img").evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=SHOTS / "01-models.png", full_page=True)

    # One sequence on a sleeping model: the page says it is waking, counts down and retries by itself.
    page.get_by_label("Sequences").fill(SEQUENCE)
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#predict-status .notice")).to_contain_text("retrying in", timeout=30_000)
    expect(card.locator(".state")).to_have_text("waking", timeout=30_000)
    page.screenshot(path=SHOTS / "02-waking.png", full_page=True)
    result = page.locator("#results .result")
    expect(result).to_have_count(1, timeout=120_000)
    expect(result.first.locator(".score-row")).to_have_count(1)
    expect(result.first).to_contain_text("line 1")
    expect(card.locator(".state")).to_have_text("awake", timeout=30_000)
    expect(card).to_contain_text("sleeps in")
    page.screenshot(path=SHOTS / "03-one-sequence.png", full_page=True)

    # A FASTA batch with top_k: each record by name, each label a bar, best first.
    page.get_by_label("Sequences").fill(
        f">first record\n{SEQUENCE[:30]}\n{SEQUENCE[30:]}\n>second\n{OTHER}\n"
    )
    page.get_by_label("Labels per input (top_k)").fill("2")
    page.get_by_role("button", name="Predict").click()
    expect(result).to_have_count(2, timeout=60_000)
    expect(result.nth(0)).to_contain_text("first record")
    expect(result.nth(1)).to_contain_text("second")
    expect(result.nth(0).locator(".score-row")).to_have_count(2)
    # Who answered (X-Served-By): the awake endpoint.
    expect(page.locator("#predict-status .served-by")).to_have_text("endpoint")
    scores = [float(s) for s in result.nth(0).locator(".score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    page.screenshot(path=SHOTS / "04-fasta-batch.png", full_page=True)

    # A 400 explained: the message names the input (and the page names the FASTA record).
    page.get_by_label("Labels per input (top_k)").fill("")
    page.get_by_label("Sequences").fill(f">good\n{SEQUENCE}\n>bad one\nHELLO, WORLD!\n")
    page.get_by_role("button", name="Predict").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("HTTP 400", timeout=60_000)
    expect(alert).to_contain_text("inputs[1] (input 2: bad one)")
    page.screenshot(path=SHOTS / "05-bad-input.png", full_page=True)

    # Phone width: everything fits without sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=SHOTS / "06-phone.png", full_page=True)

    # Everything the page loaded came from the API itself.
    assert requested
    outside = {url for url in requested if origin(url) != stack.api_url}
    assert outside == set()


def test_keyboard_reaches_every_control(stack: LocalStack, browser_page: tuple[Page, list[str]]) -> None:
    page, _ = browser_page
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{stack.api_url}/")
    expect(page.get_by_role("article", name="circrna")).to_be_visible(timeout=30_000)
    reached = set()
    for _ in range(15):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
    assert {"model-select", "sequences", "file", "top-k", "predict-button"} <= reached


@contextmanager
def other_origin() -> Iterator[str]:
    """A page on another origin of the same machine (a browser lets loopback pages call loopback)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>lab</title><p>a lab's own page</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_on_another_origin_reads_answers_errors_and_retry_after(
    stack: LocalStack, browser_page: tuple[Page, list[str]]
) -> None:
    """CORS as a browser enforces it: a page on another origin (a second local server) calls the API with
    a JSON body and an API key header (so the browser sends an OPTIONS preflight first)."""
    page, _ = browser_page
    # Put the awake model back to sleep behind the state's back, so the next prediction is a 503.
    stack.client("sagemaker").delete_endpoint(EndpointName=stack.deployment.models["circrna"].endpoint_name)
    with other_origin() as lab:
        page.goto(lab)
        seen = page.evaluate(
            """async ([api, key]) => {
          const post = (body) => fetch(api + "/models/circrna/predict", {method: "POST",
            headers: {"Content-Type": "application/json", "X-Api-Key": key}, body: JSON.stringify(body)});
          const keyless = await fetch(api + "/models");
          const listed = await fetch(api + "/models", {headers: {"X-Api-Key": key}});
          const invalid = await post({inputs: ""});
          const missing = await fetch(api + "/nowhere");
          let waking = await post({inputs: "ACGT"});
          for (let i = 0; i < 20 && waking.status !== 503; i++) waking = await post({inputs: "ACGT"});
          return {keyless: keyless.status, keylessBody: await keyless.json(),
                  listed: listed.status, invalid: invalid.status, invalidBody: await invalid.json(),
                  missing: missing.status, waking: waking.status,
                  retryAfter: waking.headers.get("Retry-After")};
        }""",
            [stack.api_url, stack.api_key],
        )
    assert seen["keyless"] == 403
    assert seen["keylessBody"] == {"error": {"code": "client_error", "message": "Forbidden"}}
    assert seen["listed"] == 200
    assert seen["invalid"] == 400 and seen["invalidBody"]["error"]["code"] == "invalid_input"
    assert seen["missing"] == 403  # the gateway's own error, readable too
    assert seen["waking"] == 503
    assert int(seen["retryAfter"]) > 0


def test_operator_controls_and_usage_next_to_wake(
    stack: LocalStack, browser_page: tuple[Page, list[str]]
) -> None:
    """Issue 22, item 7: minutes awake and cost saved (from /usage), queued jobs, and Sleep and a
    keep-warm lease next to Wake, on the model's card."""
    page, _ = browser_page
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{stack.api_url}/")
    key_panel = page.get_by_role("region", name="API key")
    if key_panel.is_visible():
        assert stack.api_key is not None
        page.get_by_role("textbox", name="API key").fill(stack.api_key)
        page.get_by_role("button", name="Use this key").click()
    card = page.get_by_role("article", name="circrna")
    expect(card).to_be_visible(timeout=30_000)
    expect(card.get_by_role("button", name="Wake circrna")).to_be_visible()
    expect(card.locator("#jobs-circrna")).to_have_text("0")
    expect(card.locator("#awake-circrna")).to_contain_text(" min")
    # The local config sets no hourly_price: the card says what would show the saving.
    expect(card.locator("#saved-circrna")).to_contain_text("serving.hourly_price")

    # A wake may answer 503 + Retry-After when the invoker's state call is slow on a loaded machine (the
    # console then shows the wait and no lease); the operator clicks again, as the test does.
    lease = card.get_by_role("button", name="Keep circrna up for 60 minutes (a lease)")
    for _ in range(6):
        lease.click()
        try:
            expect(card).to_contain_text("leased until", timeout=10_000)
            break
        except AssertionError:
            continue
    expect(card).to_contain_text("leased until", timeout=10_000)
    page.screenshot(path=SHOTS / "07-lease.png", full_page=True)

    # The lease woke it: once awake (the page shows what it last read; reload to read again), Sleep.
    for _ in range(180):
        if card.locator(".state").inner_text() == "awake":
            break
        page.wait_for_timeout(500)
        page.reload()
        expect(card).to_be_visible(timeout=30_000)
    expect(card.locator(".state")).to_have_text("awake")
    sleep = card.get_by_role("button", name="Put circrna to sleep now")
    sleep.click()
    expect(card.locator(".state")).to_have_text(re.compile("sleeping|asleep"), timeout=30_000)
    expect(card).not_to_contain_text("leased until")
    expect(sleep).to_be_disabled()
    page.screenshot(path=SHOTS / "08-sleep.png", full_page=True)
