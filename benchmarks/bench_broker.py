"""Load test of the federation broker: simulated site agents heartbeat, pull and report while
tenants submit jobs at a fixed rate.

Starts ``suanli service up --executor federated`` on a free loopback port (a fresh SQLite file
in a temp folder), creates ``--agents`` sites and two tenants, then for ``--seconds``:
each simulated agent (one asyncio task with its own keep-alive connection) heartbeats every
``--heartbeat-s`` (listing the leases it holds) and pulls every ``--pull-s``; every assignment
it pulls is answered at once with a ``succeeded`` result (so this measures the broker, not the
work); the tenants submit ``--rate`` jobs/s in total. Prints the achieved rates and latency
percentiles of heartbeats, submissions, pulls and results, and the submit -> assigned
(pulled) latency of the jobs, plus the ledger's balance at the end.

Throughput is the steady-state assignment rate: jobs pulled per second from ``--warmup-s``
after the first submission to the last one (the broker keeps up when it matches the offered
rate and the backlog, jobs submitted but not pulled yet, stays at about rate x latency).
``all by drain`` is the older figure: jobs pulled by 2 s after the last submission, divided by
``--seconds``; it can reach the offered rate only if every job is pulled within 2 s of the
end, which an agent pulling every 2 s does not allow, so it reads low by construction. The
broker's CPU use (its share of one core, from /proc) is printed too: the machine is shared.

    python benchmarks/bench_broker.py                       # 100 agents, 5 s, 50 jobs/s
    python benchmarks/bench_broker.py --agents 20 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from service_harness import announced_url, cpu_seconds, wait_healthy

CLI = [sys.executable, "-m", "suanli.cli.main"]


def _setup(data: Path, agents: int) -> tuple[list[str], dict[str, str]]:
    from suanli.federation.registry import create_site
    from suanli.service.db import make_engine, session_factory, upgrade
    from suanli.service.tenants import create_tenant

    url = f"sqlite:///{data / 'suanli.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        tenants = [create_tenant(s, n)[1] for n in ("alpha", "beta")]
        keys = {f"site{i:03d}": create_site(s, f"site{i:03d}")[1] for i in range(agents)}
    engine.dispose()
    return tenants, keys


def _start(data: Path, lease_s: float) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "SUANLI_DATA_DIR": str(data), "SUANLI_LEASE_S": str(lease_s)}
    log = open(data / "broker.log", "wb")  # noqa: SIM115 (lives as long as the broker)
    proc = subprocess.Popen([*CLI, "service", "up", "--port", "0", "--executor", "federated"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = announced_url(data / "broker.log", proc, 60.0)
    except RuntimeError:
        url = ""
    if not url or not wait_healthy(url, 60.0):
        proc.kill()
        raise SystemExit("broker did not start:\n" + (data / "broker.log").read_text()[-2000:])
    return proc, url


class Stats:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.submitted: dict[str, float] = {}  # job id -> submit time
        self.t0 = self.t1 = self.cpu0 = self.cpu1 = 0.0  # the load window, broker CPU s
        self.backlog = 0
        self.assigned: list[float] = []  # submit -> pulled, s
        self.pulled_at: list[float] = []  # when each submitted job was pulled (unix s)

    async def call(self, c: httpx.AsyncClient, what: str, path: str, body: dict[str, Any]
                   ) -> Any:
        t = time.perf_counter()
        try:
            r = await c.post(path, json=body)
        except httpx.HTTPError:
            self.errors[what] = self.errors.get(what, 0) + 1
            return None
        self.lat.setdefault(what, []).append(time.perf_counter() - t)
        if r.status_code >= 300:
            self.errors[what] = self.errors.get(what, 0) + 1
            return None
        return r.json()


async def agent(url: str, key: str, st: Stats, args: argparse.Namespace, start: float,
                stop: float) -> None:
    fed = "/api/v1/federation"
    async with httpx.AsyncClient(base_url=url + fed, timeout=30,
                                 headers={"Authorization": f"Bearer {key}"}) as c:
        await asyncio.sleep(start)  # agents come up spread over one heartbeat period
        await st.call(c, "register", "/register", {"cpus": 4, "engine": "other"})
        await st.call(c, "heartbeat", "/heartbeat", {"cpus": 4, "price": {"cpu_hour": 1.0}})
        next_hb = time.time() + args.heartbeat_s
        while time.time() < stop:
            if time.time() >= next_hb:
                next_hb += args.heartbeat_s
                await st.call(c, "heartbeat", "/heartbeat", {"cpus": 4,
                                                             "price": {"cpu_hour": 1.0}})
            got = await st.call(c, "pull", "/pull", {"max": 16})
            now = time.time()
            for a in (got or {}).get("assignments", []):
                t0 = st.submitted.get(a["job_id"])
                if t0 is not None:
                    st.assigned.append(now - t0)
                    st.pulled_at.append(now)
                await st.call(c, "result", f"/leases/{a['id']}/result", {
                    "id": a["id"], "token": a["token"], "state": "succeeded", "exit_code": 0,
                    "started_at": now, "finished_at": time.time()})
            await asyncio.sleep(args.pull_s)


async def tenants(url: str, keys: list[str], st: Stats, rate: float, stop: float) -> None:
    clients = [httpx.AsyncClient(base_url=url, timeout=30,
                                 headers={"Authorization": f"Bearer {k}"}) for k in keys]
    i, t_next = 0, time.time()
    pending: set[asyncio.Task[None]] = set()

    async def one(c: httpx.AsyncClient, n: int) -> None:
        t = time.time()
        got = await st.call(c, "submit", "/api/v1/jobs", {"name": f"j{n}", "kind": "command",
                                                          "command": "true"})
        if got is not None:
            st.submitted[got["id"]] = t

    while time.time() < stop:
        task = asyncio.create_task(one(clients[i % len(clients)], i))
        pending.add(task)
        task.add_done_callback(pending.discard)
        i += 1
        t_next += 1.0 / rate
        await asyncio.sleep(max(0.0, t_next - time.time()))
    await asyncio.gather(*pending)
    for c in clients:
        await c.aclose()


def _pct(xs: list[float]) -> str:
    if not xs:
        return "-"
    p = np.percentile(np.array(xs) * 1e3, [50, 95, 99])
    return f"p50 {p[0]:.0f} ms, p95 {p[1]:.0f} ms, p99 {p[2]:.0f} ms"


async def run(url: str, tkeys: list[str], skeys: dict[str, str], args: argparse.Namespace,
              pid: int) -> Stats:
    st = Stats()
    offsets = np.random.default_rng(0).uniform(0, args.heartbeat_s, len(skeys))
    agents = [asyncio.create_task(agent(url, k, st, args, float(o), time.time() + 1e6))
              for k, o in zip(skeys.values(), offsets, strict=True)]
    await asyncio.sleep(args.heartbeat_s + 1.0)  # all registered and live
    st.lat.clear()
    st.t0, st.cpu0 = time.time(), cpu_seconds(pid)
    stop = st.t0 + args.seconds
    await tenants(url, tkeys, st, args.rate, stop)
    st.t1, st.cpu1 = time.time(), cpu_seconds(pid)
    st.backlog = len(st.submitted) - sum(1 for t in st.pulled_at if t <= st.t1)
    await asyncio.sleep(2.0)  # the last jobs are pulled
    for a in agents:
        a.cancel()
    await asyncio.gather(*agents, return_exceptions=True)
    return st


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--heartbeat-s", type=float, default=5.0)
    ap.add_argument("--pull-s", type=float, default=2.0)
    ap.add_argument("--rate", type=float, default=50.0, help="job submissions per second")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup-s", type=float, default=5.0,
                    help="seconds of load before the throughput window opens")
    args = ap.parse_args()
    if not (1 <= args.agents <= 1000 and 0 < args.seconds <= 300 and 0 < args.rate <= 1000
            and 0 <= args.warmup_s < args.seconds):
        raise SystemExit("--agents must be 1..1000, --seconds 0..300, --rate 0..1000, "
                         "--warmup-s 0..--seconds")
    data = Path(tempfile.mkdtemp(prefix="suanli-broker-"))
    tkeys, skeys = _setup(data, args.agents)
    proc, url = _start(data, lease_s=3 * args.heartbeat_s)
    try:
        st = asyncio.run(run(url, tkeys, skeys, args, proc.pid))
        span = args.seconds + 2.0  # the measured window (submissions, then 2 s to drain)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    from sqlalchemy import create_engine, text

    eng = create_engine(f"sqlite:///{data / 'suanli.db'}")
    with eng.connect() as c:
        states = dict(c.execute(text("select state, count(*) from jobs group by state")).all())
        led = c.execute(text("select count(*), coalesce(sum(tenant_charge_usd), 0), "
                             "coalesce(sum(site_earning_usd + broker_fee_usd), 0) "
                             "from fed_ledger")).one()
    eng.dispose()
    print(f"broker on {url}: {args.agents} agents (heartbeat every {args.heartbeat_s:g} s, "
          f"pull every {args.pull_s:g} s), {args.rate:g} jobs/s asked, {args.seconds:g} s")
    for what in ("heartbeat", "submit", "pull", "result"):  # submits: over the load window
        xs = st.lat.get(what, [])
        per = args.seconds if what == "submit" else span
        print(f"  {what:9s} {len(xs) / per:7.1f}/s  {_pct(xs)}  errors {st.errors.get(what, 0)}")
    w0, w1 = st.t0 + args.warmup_s, st.t1
    steady = sum(1 for t in st.pulled_at if w0 <= t <= w1) / (w1 - w0)
    print(f"  assigned  {steady:7.1f} jobs/s steady ({args.warmup_s:g} s .. end of load), "
          f"backlog {st.backlog} at the end of load; all by drain "
          f"{len(st.assigned) / args.seconds:.1f} jobs/s "
          f"(submit -> pulled: {_pct(st.assigned)})")
    print(f"  broker CPU {100 * (st.cpu1 - st.cpu0) / (st.t1 - st.t0):.0f}% of one core "
          f"during the load (machine: {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"  jobs by state at the end: {json.dumps(states)}")
    print(f"  ledger: {led[0]} rows, charges ${led[1]:.6f} = earnings + fees ${led[2]:.6f}")


if __name__ == "__main__":
    main()
