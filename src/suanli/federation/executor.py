"""The broker as a service executor: the live scheduler places, hands off, polls, retries and
bills federated jobs with the code it already has; "running a job" means assigning it to a
site, whose agent pulls it.

- ``resources()``: every registered site (key not revoked) with the capacity it offers (its
  last heartbeat; what it declared before any); the scheduler subtracts what its jobs hold.
- ``submit(spec)``: an assignment of the attempt at ``spec.site`` (:mod:`.leases`); inside
  ``with executor.batch():`` (the scheduler's hand-offs of one pass) the assignments are
  written in one transaction when the block ends, before the scheduler commits their handles
  (one write-lock acquisition per pass, not one per job).
- ``status(handle)``: the assignment's state; a lease that ran out is expired here and the run
  reported LOST, so the scheduler requeues the job (``max_retries``) and places it again.
- ``logs``/``cancel``/``reattach``: the tail the site streamed; a cancel request the agent sees
  on its next heartbeat; the state is in the database, so a restart finds every run.

:class:`PriceFirst` wraps the scheduler's placer: only *live* sites are candidates (heard from
within a lease period, healthy, not draining, inside an availability window), and among the
feasible ones the cheapest in USD (the site's price x the catalog's fx rate) wins
(:meth:`suanli.sched.placement.base.Placer.place`'s ``prefer``); the wrapped placer breaks ties.
A job that names its input dataset is placed where its whole bill is lowest instead: compute
at the site's price over the run and the time to move the data there, plus the egress to move
it (:mod:`.locality`, over the links the quotes use), so it stays with its data unless another
site is cheaper overall.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from suanli.federation.models import LEASE_ACTIVE, FedAssignment, FedSite
from suanli.service.executors.base import JobSpec, RunState, RunStatus

_STATES = {"assigned": RunState.PENDING, "running": RunState.RUNNING,
           "succeeded": RunState.SUCCEEDED, "failed": RunState.FAILED,
           "cancelled": RunState.CANCELLED, "expired": RunState.LOST}
MARKET_TTL_S = 0.2  # seconds the placer reuses its read of the sites' state
SNAPSHOT_TTL_S = 0.1  # seconds status() reuses its read of the assignments
RECENT_S = 10.0  # ended assignments the snapshot keeps (older ones: read one by one)
LOG_PREFETCH = 15  # logs read along with the one asked for (logs(); <= 16 MiB in all)
LOG_FRESH_S = 0.25  # seconds a log read ahead may be served (within the pass that read it)
NETWORK_TTL_S = 5.0  # seconds the placer reuses the sites' locations (and links from them)


class FederatedExecutor:
    """See the module doc. ``bind(sessions)`` gives it the service's database sessions."""

    def __init__(self, lease_s: float = 30.0) -> None:
        self.lease_s = lease_s
        self.sessions: sessionmaker[Session] | None = None
        self._market: tuple[float, dict[str, tuple[bool, float, float]]] = (0.0, {})
        self._snap: tuple[float, dict[str, tuple[Any, ...]]] = (0.0, {})
        # logs read ahead: handle -> (when, its state then, log); served only in that state
        self._prefetched: dict[str, tuple[float, str | None, str | None]] = {}
        self._served: dict[str, float] = {}  # ended handles whose log was read (when)
        self._links: tuple[float, Any, dict[tuple[str, str], Any]] = (0.0, None, {})
        # during batch(): the sites read once, and the hand-offs written when it ends
        self._batch: tuple[dict[str, FedSite], list[JobSpec]] | None = None

    def bind(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def _s(self) -> Session:
        if self.sessions is None:
            raise RuntimeError("FederatedExecutor used before bind(sessions)")
        return self.sessions()

    def start(self) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def submit(self, spec: JobSpec) -> str:
        from suanli.federation.leases import assign, assignment_id

        if self._batch is not None:
            sites, specs = self._batch
            self._check(sites.get(spec.site or ""), spec)
            specs.append(spec)
            return assignment_id(spec)
        with self._s() as s:
            site = s.get(FedSite, spec.site or "")
            return assign(s, spec, self._check(site, spec), self.lease_s, time.time())

    @staticmethod
    def _check(site: FedSite | None, spec: JobSpec) -> FedSite:
        if site is None or site.revoked_at is not None:
            raise RuntimeError(f"site '{spec.site}' is not a federated site")
        return site

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hand-offs inside the block are written together when it ends (one transaction,
        :func:`~suanli.federation.leases.assign_many`), so they are durable before the caller
        commits the handles ``submit`` returned; ``submit`` still refuses a site that is not
        (or no longer) federated at once. A batch that meets an attempt handed off before
        falls back to one hand-off at a time (each finds or creates its row)."""
        from suanli.federation.leases import assign, assign_many

        with self._s() as s:
            sites = {r.id: r for r in s.scalars(select(FedSite))}
            specs: list[JobSpec] = []
            self._batch = (sites, specs)
            try:
                yield
            finally:  # also when the block failed: what submit accepted is written
                self._batch = None
                if specs:
                    now = time.time()
                    rows = [(sp, sites[sp.site or ""]) for sp in specs]
                    if not assign_many(s, rows, self.lease_s, now):
                        for sp, site in rows:
                            assign(s, sp, site, self.lease_s, now)

    def _snapshot(self, now: float) -> dict[str, tuple[Any, ...]]:
        """Every live or recently ended assignment, read in one query and reused for
        :data:`SNAPSHOT_TTL_S` (a scheduler pass polls each handed-off job: one query per pass,
        not one per job)."""
        t, snap = self._snap
        if now - t < SNAPSHOT_TTL_S:
            return snap
        c = FedAssignment
        with self._s() as s:
            rows = s.execute(select(c.id, c.state, c.exit_code, c.message, c.started_at,
                                    c.finished_at, c.expires_at, c.site_id).where(
                c.state.in_(LEASE_ACTIVE) | (c.finished_at > now - RECENT_S)))
            snap = {r[0]: tuple(r[1:]) for r in rows}
        self._snap = (now, snap)
        return snap

    def status(self, handle: str) -> RunStatus:
        from suanli.federation.leases import expire

        now = time.time()
        row = self._snapshot(now).get(handle)
        if row is None or (row[0] in LEASE_ACTIVE and row[5] < now):  # not seen, or ran out
            with self._s() as s:
                a = s.get(FedAssignment, handle)
                if a is None:
                    return RunStatus(RunState.LOST, None, f"no assignment '{handle}'", None,
                                     now)
                expire(s, a, now)
                row = (a.state, a.exit_code, a.message, a.started_at, a.finished_at,
                       a.expires_at, a.site_id)
        state, code, message, started, finished, _, site = row
        st = _STATES[state]
        msg = message or ("" if st is not RunState.PENDING else
                          f"assigned to site '{site}', waiting for its agent")
        return RunStatus(st, code, msg, started, finished)

    def reattach(self, handle: str) -> RunStatus:
        return self.status(handle)

    def logs(self, handle: str, tail: int = 200) -> str:
        """The tail the site streamed. The scheduler asks for each handed-off job's log in
        turn during a pass (throttled per job, and once at the end), so one read also brings
        up to :data:`LOG_PREFETCH` others the pass is likely to ask for next: ended ones not
        asked for yet (their log is final) and ones not started (their log is empty or
        short); each is served once, within :data:`LOG_FRESH_S` of its read and only while
        the snapshot shows it in the state it had then (a run that ended since is read again,
        so its final log is never an earlier one): a read per batch of jobs, not per job."""
        now = time.time()
        hit = self._prefetched.pop(handle, None)
        snap = self._snap[1]
        state = snap[handle][0] if handle in snap else None
        if hit is None or now - hit[0] > LOG_FRESH_S or hit[1] != state:  # read again
            self._prefetched = {h: v for h, v in self._prefetched.items()
                                if now - v[0] <= LOG_FRESH_S}
            more = [h for h, r in snap.items() if h != handle and h not in self._prefetched
                    and (r[0] == "assigned" or (r[0] not in LEASE_ACTIVE
                                                and h not in self._served))][:LOG_PREFETCH]
            with self._s() as s:  # the one column (not the rows with their specs)
                got = dict(s.execute(select(FedAssignment.id, FedAssignment.logs)
                                     .where(FedAssignment.id.in_([handle, *more]))).all())
            for h in more:
                if h in got:
                    self._prefetched[h] = (now, snap[h][0], got[h])
            hit = (now, state, got.get(handle))
        if state is not None and state not in LEASE_ACTIVE:
            self._served[handle] = now
            if len(self._served) > 50_000:  # ended long before: out of the snapshot anyway
                self._served = {h: t for h, t in self._served.items() if t > now - 2 * RECENT_S}
        lines = [] if hit[2] is None else hit[2].splitlines()
        return "\n".join(lines[-tail:]) + ("\n" if lines else "")

    def cancel(self, handle: str) -> None:
        from suanli.federation.leases import request_cancel

        with self._s() as s:
            request_cancel(s, handle, time.time())

    def resources(self) -> dict[str, dict[str, float]]:
        with self._s() as s:
            return {r.id: {"CPU": r.cpus or r.declared_cpus, "GPU": r.gpus or r.declared_gpus}
                    for r in s.scalars(select(FedSite).where(FedSite.revoked_at.is_(None),
                                                             FedSite.registered_at.isnot(None)))}

    def market(self) -> dict[str, tuple[bool, float, float]]:
        """site -> (live, USD per CPU-hour, USD per GPU-hour), re-read every
        :data:`MARKET_TTL_S`."""
        from suanli.federation.ledger import usd_per_unit
        from suanli.federation.registry import live

        t, cached = self._market
        now = time.time()
        if now - t < MARKET_TTL_S:
            return cached
        with self._s() as s:
            out = {}
            for r in s.scalars(select(FedSite)):
                fx = usd_per_unit(r.currency)
                out[r.id] = (live(r, now, self.lease_s), r.cpu_price * fx, r.gpu_price * fx)
        self._market = (now, out)
        return out

    def links(self, source: str, sites: list[str]) -> list[Any]:
        """The link from place ``source`` to each of ``sites`` (:func:`.locality.move_link`),
        on a network of the sites re-read every :data:`NETWORK_TTL_S`."""
        from suanli.federation.locality import move_link, site_network

        t, net, cache = self._links
        now = time.time()
        if net is None or now - t >= NETWORK_TTL_S:
            with self._s() as s:
                net, cache = site_network(s), {}
            self._links = (now, net, cache)
        out = []
        for site in sites:
            lk = cache.get((source, site))
            if lk is None:
                lk = cache[(source, site)] = move_link(net, source, site)
            out.append(lk)
        return out

    def wrap_placer(self, inner: Any) -> PriceFirst:
        return PriceFirst(inner, self)


class PriceFirst:
    """The scheduler's placer, restricted to live sites and cheapest first (module doc)."""

    def __init__(self, inner: Any, executor: FederatedExecutor) -> None:
        self.inner, self.executor = inner, executor
        self.name = f"price-first({getattr(inner, 'name', 'placer')})"

    def _rows(self, cluster: Any) -> list[tuple[bool, float, float]]:
        """(live, CPU-hour price, GPU-hour price) of each of ``cluster``'s sites."""
        m = self.executor.market()
        return [m.get(n, (False, np.inf, np.inf)) for n in cluster.names]

    def mark_live(self, cluster: Any) -> None:
        """Only live sites are available to this pass, the jobs pinned to a site included:
        the scheduler calls this once per pass, before any job is placed (the one place the
        availability is set)."""
        cluster.available[:] = np.array([r[0] for r in self._rows(cluster)], dtype=bool)

    def place(self, cluster: Any, demand: Any, rng: np.random.Generator,
              prefer: np.ndarray | None = None) -> Any:
        return self._place(self._rows(cluster), cluster, demand, rng, prefer)

    def _place(self, rows: list[tuple[bool, float, float]], cluster: Any, demand: Any,
               rng: np.random.Generator, prefer: np.ndarray | None) -> Any:
        if prefer is None:
            gpu = demand.num_gpu > 0
            prefer = np.array([r[2] if gpu else r[1] for r in rows], dtype=float)
        got = self.inner.place(cluster, demand, rng, prefer=prefer)
        return None if got is not None and len(got.parts) > 1 else got  # no cross-site gangs

    def place_job(self, cluster: Any, demand: Any, rng: np.random.Generator, job: Any) -> Any:
        """:meth:`place` for ``job``: with an input dataset, by its whole bill at each site
        (:mod:`.locality`); without one, by price as :meth:`place`."""
        from suanli.federation.locality import DEFAULT_RUN_S, bills, input_of, moves, rank

        rows = self._rows(cluster)
        data = input_of(job)
        if data is None:
            return self._place(rows, cluster, demand, rng, None)
        rate = np.array([job.cpus * r[1] + job.gpus * r[2] for r in rows], dtype=float)
        secs, egress = moves(self.executor.links(data[0], list(cluster.names)), data[1])
        run_s = float(job.predicted_duration_s or DEFAULT_RUN_S)
        usd = bills(np.nan_to_num(rate, nan=np.inf), secs, egress, run_s)
        return self._place(rows, cluster, demand, rng, rank(usd, secs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def parse_spec(raw: dict[str, Any]) -> JobSpec:
    """A :class:`JobSpec` from an assignment's ``spec`` (unknown fields dropped)."""
    fields = JobSpec.__dataclass_fields__
    return JobSpec(**{k: v for k, v in raw.items() if k in fields})


__all__ = ["FederatedExecutor", "PriceFirst", "parse_spec"]
