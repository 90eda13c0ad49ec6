"""The dashboard end to end: the real app (real SQLite, real local-process executor) served by
uvicorn, driven in headless Debian Chromium with Playwright's sync API."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service needs fastapi (pip install -e .)")
pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev extra)")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("Debian chromium is not installed (make browser, or apt-get install chromium)",
                allow_module_level=True)
warnings.filterwarnings("ignore", message=".*httpx2.*")

import uvicorn  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from suanli.service.web.routes import router  # noqa: E402

pytestmark = pytest.mark.slow
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
TERMINAL = ("succeeded", "failed", "cancelled", "lost")


class Server:
    """The real app on a real port, with one tenant's key."""

    def __init__(self, data_dir: Path) -> None:
        from suanli.service.app import create_app
        from suanli.service.config import Settings

        # Bound here and handed to uvicorn: a port only chosen here could be taken by another
        # test's process before uvicorn binds it.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        settings = Settings(data_dir=data_dir, executor="subprocess", port=self.port,
                            poll_interval_s=0.1)
        self.app = create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.05)
        from suanli.service.tenants import create_tenant

        with self.app.state.suanli.sessions() as session:
            _, self.key = create_tenant(session, "dash")
        self.url = f"http://127.0.0.1:{self.port}"

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            self.url + path, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def wait_job(self, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
        end = time.monotonic() + timeout
        job = self.api(f"/api/v1/jobs/{job_id}")
        while job["state"] not in TERMINAL and time.monotonic() < end:
            time.sleep(0.1)
            job = self.api(f"/api/v1/jobs/{job_id}")
        return job

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("dash"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser_page(server: Server) -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def page(browser_page: Page, server: Server) -> Page:
    """The dashboard with the tenant's key saved (as a user would paste it)."""
    browser_page.goto(server.url + "/")
    browser_page.fill("#api-key", server.key)
    browser_page.click("#key-form button")
    expect(browser_page.locator("#key-state")).to_have_text("key saved")
    return browser_page


def test_router_mounts_standalone() -> None:
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)
    assert "<title>Suanli" in client.get("/").text
    assert client.get("/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/routes.py").status_code == 404  # only the allow-listed assets
    assert client.get("/api/v1/jobs").status_code == 404  # no API path is shadowed


def test_without_key_asks_for_one_and_bad_key_shows_401(browser_page: Page,
                                                        server: Server) -> None:
    browser_page.goto(server.url + "/")
    browser_page.evaluate("localStorage.clear()")
    browser_page.reload()
    expect(browser_page.locator("#error")).to_contain_text("Paste your API key")
    browser_page.fill("#api-key", "sk-wrong")
    browser_page.click("#key-form button")
    expect(browser_page.locator("#error")).to_contain_text("401")


def test_network_table_shows_the_api_sites(page: Page, server: Server) -> None:
    sites = server.api("/api/v1/sites")["sites"]
    page.goto(server.url + "/#network")
    rows = page.locator("#sites-table tbody tr")
    expect(rows).to_have_count(len(sites))
    priced = next(s for s in sites if s["price_usd_per_device_hour"] is not None)
    row = page.locator(f'#sites-table tr[data-site="{priced["id"]}"]')
    expect(row.locator("td").nth(4)).to_have_text(f'{priced["price_usd_per_device_hour"]:.2f}')
    local = next(s for s in sites if s["runnable"])
    expect(page.locator(f'#sites-table tr[data-site="{local["id"]}"] td').nth(6)).to_have_text(
        "yes")


def test_quote_form_shows_the_offers(page: Page, server: Server) -> None:
    expected = server.api("/api/v1/quotes", {"model": "llama-7b", "tokens": "1e9", "top": 3})
    page.goto(server.url + "/#quote")
    page.fill('#quote-form input[name="model"]', "llama-7b")
    page.fill('#quote-form input[name="amount"]', "1e9")
    page.fill('#quote-form input[name="top"]', "3")
    page.click("#quote-form button")
    rows = page.locator("#offers-table tbody tr")
    expect(rows).to_have_count(len(expected["offers"]))
    first = expected["offers"][0]
    expect(rows.nth(0).locator("td").nth(1)).to_have_text(first["site"])
    expect(rows.nth(0).locator("td").nth(6)).to_have_text(f'{first["cost_usd"]:.2f}')
    expect(rows.nth(0).locator("td").nth(8)).to_have_text(first["capability"])
    # run a command from the best offer: its site is not run by this server, so the answer
    # is the 409's reason (and no job), never a run on the local site
    jobs = server.api("/api/v1/jobs")["count"]
    page.fill("#offer-command", "true")
    rows.nth(0).locator("button").click()
    expect(page.locator("#error")).to_contain_text(
        f"site '{first['site']}' is not run by this service's executor")
    assert server.api("/api/v1/jobs")["count"] == jobs


def test_submitted_job_detail_shows_predicted_vs_actual_and_logs(page: Page,
                                                                 server: Server) -> None:
    page.goto(server.url + "/#jobs")
    page.fill('#job-form input[name="name"]', "from-browser")
    page.fill('#job-form input[name="command"]', "sleep 0.3; echo hello-dashboard")
    page.click("#job-form button")
    page.wait_for_url("**/#job/*")
    job_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("#job-logs")).to_contain_text("hello-dashboard")
    job = server.api(f"/api/v1/jobs/{job_id}")
    assert job["name"] == "from-browser" and job["actual_duration_s"] > 0.2
    actual = page.locator('#job-compare tr[data-metric="duration"] td').nth(1)
    expect(actual).to_have_text(f'{job["actual_duration_s"]:.1f}')
    expect(page.locator("#job-cancel")).to_be_hidden()

    # A job with a prediction: the ratio column is actual / predicted.
    made = server.api("/api/v1/jobs", {"name": "predicted", "kind": "command",
                                       "command": "sleep 0.2", "predicted_duration_s": 2.0})
    done = server.wait_job(made["id"])
    assert done["state"] == "succeeded"
    page.goto(f"{server.url}/#job/{made['id']}")
    cells = page.locator('#job-compare tr[data-metric="duration"] td')
    expect(cells.nth(0)).to_have_text("2.0")
    expect(cells.nth(2)).to_have_text(f'{done["actual_duration_s"] / 2.0:.2f}')

    page.goto(server.url + "/#jobs")
    expect(page.locator(f'#jobs-table tr[data-job="{job_id}"]')).to_contain_text("succeeded")
    page.click(f'#jobs-table tr[data-job="{job_id}"]')
    expect(page.locator("#job-id")).to_have_text(job_id)


def test_workload_job_detail_shows_its_figures(page: Page, server: Server) -> None:
    pytest.importorskip("torch", reason="the workloads extra (PyTorch) is not installed")
    made = server.api("/api/v1/jobs", {"name": "gpt", "kind": "serve", "workload": {
        "preset": "tiny", "batch": 1, "prompt_len": 8, "gen_len": 3}})
    done = server.wait_job(made["id"], timeout=60)
    assert done["state"] == "succeeded", done["error"]
    page.goto(f"{server.url}/#job/{made['id']}")
    row = page.locator('#job-compare tr[data-metric="tpot_min_s"]')
    expect(row.locator("td").nth(1)).not_to_have_text("—")
    shown = float(row.locator("td").nth(1).inner_text())  # 4 significant digits
    # in the bench's clock: one thread, the fastest decode step in CPU seconds
    assert shown == pytest.approx(done["measured"]["tpot_cpu_s"], rel=1e-3)
    assert done["measured"]["compared"]["tpot_min_s"] == done["measured"]["tpot_cpu_s"]
    expect(row.locator("td").nth(0)).to_have_text("—")  # this server has no bench profile
    expect(row).to_have_attribute("title", re.compile("no bench profile"))


def test_cancel_button_stops_a_running_job(page: Page, server: Server) -> None:
    made = server.api("/api/v1/jobs", {"name": "long", "kind": "command", "command": "sleep 60"})
    page.goto(f"{server.url}/#job/{made['id']}")
    expect(page.locator("#job-state")).to_have_text("running", timeout=20_000)
    page.click("#job-cancel")
    expect(page.locator("#job-state")).to_have_text("cancelled", timeout=20_000)


def test_charts_draw_series_from_jobs_and_usage(page: Page, server: Server) -> None:
    made = server.api("/api/v1/jobs", {"name": "for-chart", "kind": "command",
                                       "command": "true"})
    assert server.wait_job(made["id"])["state"] == "succeeded"
    page.goto(server.url + "/#charts")
    expect(page.locator("#chart-util svg polyline")).to_have_count(1)
    expect(page.locator("#chart-cost svg polyline")).to_have_count(1)
    n_records = len(server.api("/api/v1/usage")["records"])
    points = page.locator("#chart-cost polyline").get_attribute("points") or ""
    assert len(points.split()) == n_records


def test_series_functions_in_the_browser(page: Page) -> None:
    """Laws of the chart math, evaluated by the page's own JS."""
    util = page.evaluate("""() => utilizationSeries(
        [{started_at: 0, finished_at: 10, cpus: 1}, {started_at: 5, finished_at: 20, cpus: 1},
         {started_at: null, finished_at: null, cpus: 8}], 2, "CPU", 20, 5)""")
    assert [t for t, _ in util] == [0, 5, 10, 15, 20]
    # t=0: one of 2 CPUs; t=5: both; t=10, 15: one; t=20: none (intervals are half-open)
    assert [u for _, u in util] == [0.5, 1.0, 0.5, 0.5, 0.0]
    running = page.evaluate("""() => utilizationSeries(
        [{started_at: 0, finished_at: null, gpus: 1, cpus: 4}], 4, "GPU", 8, 3)""")
    assert running == [[0, 0.25], [4, 0.25], [8, 0.25]]  # a running job counts up to now
    cost = page.evaluate("""() => cumulativeCost(
        [{created_at: 3, cost_usd: 2}, {created_at: 1, cost_usd: 1.5}])""")
    assert cost == [[1, 1.5], [3, 3.5]]


def test_job_from_an_offer_shows_the_offer_apart_from_predicted_vs_actual(
        page: Page, server: Server) -> None:
    """The quoted time is for the quoted workload; the view shows it with the offer and a note,
    and leaves the job's own predicted duration empty instead of comparing the two. (This
    server's executor runs no GPU site, so the offer is stored on a finished job the way
    the service stores it: suanli.service.offers.offer_record.)"""
    from suanli.service.models import Job
    from suanli.service.offers import offer_record

    q = server.api("/api/v1/quotes", {"model": "llama3-8b", "tokens": 1e9, "top": 2})
    made = server.api("/api/v1/jobs", {"name": "offered", "kind": "command", "command": "true"})
    assert server.wait_job(made["id"])["state"] == "succeeded"
    o = q["offers"][1]
    with server.app.state.suanli.sessions() as s:
        s.get(Job, made["id"]).offer_json = json.dumps(
            offer_record(q["id"], 1, o, q["request"]))
        s.commit()
    page.goto(f"{server.url}/#job/{made['id']}")
    expect(page.locator("#job-offer")).to_be_visible()
    expect(page.locator('#job-offer-fields dd[data-field="offer-site"]')).to_contain_text(
        o["site"])
    expect(page.locator('#job-offer-fields dd[data-field="offer-time"]')).to_have_text(
        f'{o["total_s"]:.0f}')
    expect(page.locator("#job-offer-note")).to_contain_text("not compared with the quote")
    expect(page.locator('#job-compare tr[data-metric="duration"] td').nth(0)).to_have_text("—")
