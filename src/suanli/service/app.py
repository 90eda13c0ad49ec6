"""The FastAPI app: ``create_app(settings, executor)``.

Startup (lifespan): ``alembic upgrade head`` on the database, ``executor.start()``, then the
scheduler thread, which leads (recovery, then passes) or stands by (:mod:`leader`). Requests
pass three pure-ASGI layers: a body-size guard (413 over ``max_body_bytes``, 411 for bodies
without a length), a latency recorder for ``/metrics``, and :class:`~hardening.JsonGuard`
(NUL, NaN and Infinity refused). User errors (:class:`SuanliError`) become 400
with the library's message; validation errors 422 with every bad field named.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from suanli.errors import InfeasibleError, SuanliError
from suanli.service.config import Settings
from suanli.service.executors.base import Executor, ExecutorUnavailable
from suanli.service.hardening import ASGI, JsonGuard, Scope
from suanli.service.hardening import reply as _reply
from suanli.service.metrics import Metrics
from suanli.service.security import install_redaction
from suanli.service.state import RETRY_AFTER_S, AppState

log = logging.getLogger("suanli.service")


class BodyLimit:
    """Reject bodies over ``limit`` bytes before any of them is read."""

    def __init__(self, app: ASGI, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if length is None and b"chunked" in headers.get(b"transfer-encoding", b""):
                return await _reply(send, 411, "send a Content-Length header (chunked bodies "
                                    "are not accepted)")
            if length is not None and (not length.isdigit() or int(length) > self.limit):
                return await _reply(send, 413, f"request body over {self.limit} bytes; send "
                                    "less (the limit is --max-body-bytes)")
        await self.app(scope, receive, send)


class Timing:
    """Record each request's latency by route template (for ``/metrics``)."""

    def __init__(self, app: ASGI, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0, code = time.perf_counter(), [500]

        async def send_status(msg: Any) -> None:
            if msg["type"] == "http.response.start":
                code[0] = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], route, code[0], time.perf_counter() - t0)


def make_executor(settings: Settings) -> Executor:
    """The configured executor: Ray (embedded head or ``ray_address``), or local processes."""
    kind = settings.executor
    if kind == "auto":
        import importlib.util

        kind = "ray" if importlib.util.find_spec("ray") else "subprocess"
    if kind == "federated":  # the broker: sites' agents pull the work (docs/federation.md)
        from suanli.federation.executor import FederatedExecutor

        return FederatedExecutor(lease_s=settings.lease_s)
    if kind == "ray":
        from suanli.service.executors.ray_executor import RayExecutor

        return RayExecutor(address=settings.ray_address, data_dir=settings.data_dir,
                           require_sandbox=not settings.insecure_single_tenant)
    from suanli.service.local_subprocess import SubprocessExecutor

    return SubprocessExecutor(settings.data_dir / "runs",
                              require_sandbox=not settings.insecure_single_tenant)


def _errors_text(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {str(e.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts)


def create_app(settings: Settings, executor: Executor | None = None) -> FastAPI:
    """Build the app. ``executor`` defaults to :func:`make_executor`."""
    from suanli.service.api.routes import federation, health, jobs, quotes, sites, usage
    from suanli.service.db import make_engine, session_factory, upgrade
    from suanli.service.leader import Leadership
    from suanli.service.scheduler import LiveScheduler

    install_redaction()
    engine = make_engine(settings.db_url)
    ex = executor if executor is not None else make_executor(settings)
    state = AppState(settings=settings, engine=engine, sessions=session_factory(engine),
                     executor=ex)
    if hasattr(ex, "bind"):  # the federated executor keeps its state in the service's database
        ex.bind(state.sessions)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        # the blocking (database) handlers run on at most api_threads threads: with anyio's
        # 40, a burst keeps ~40 threads runnable and the one holding SQLite's write lock
        # waits its turn for the GIL among them (bench_broker: 46 -> 50 assignments/s,
        # request latencies halved; docs/federation.md)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        upgrade(settings.db_url)
        ex.start()
        if settings.scheduler:
            state.scheduler = LiveScheduler(state.sessions, ex, policy=settings.policy,
                                            placer=settings.placer,
                                            interval_s=settings.poll_interval_s,
                                            health=state.engine_health,
                                            leadership=Leadership(engine),
                                            lost_after_s=settings.lost_after_s,
                                            grace_s=settings.preempt_grace_s)
            if hasattr(ex, "wrap_placer"):  # federation: live sites only, cheapest first
                state.scheduler.placer = ex.wrap_placer(state.scheduler.placer)
            state.scheduler.start()
        log.info("suanli service ready (db %s, executor %s)", engine.url.render_as_string(
            hide_password=True), type(ex).__name__)
        try:
            yield
        finally:  # jobs keep running: a restart re-attaches them
            if state.scheduler is not None:
                state.scheduler.stop()
            engine.dispose()

    app = FastAPI(title="Suanli compute network", version="1", lifespan=lifespan,
                  description="Quotes, places, schedules and runs jobs (docs/service.md).")
    app.state.suanli = state
    for r in (health.router, sites.router, quotes.router, jobs.router, usage.router,
              federation.router):
        app.include_router(r)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _errors_text(exc)}, status_code=422)

    @app.exception_handler(ExecutorUnavailable)
    async def _engine_down(_req: Request, exc: ExecutorUnavailable) -> JSONResponse:
        state.engine_health.down(str(exc), time.time())
        return JSONResponse({"detail": f"the execution engine is unreachable ({exc}); retry "
                             f"in {RETRY_AFTER_S} s"}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(DataError)
    async def _bad_value(_req: Request, exc: DataError) -> JSONResponse:
        return JSONResponse({"detail": "a value the database cannot store (e.g. a NUL "
                             "character or a number out of range); send clean text and "
                             "bounded numbers"}, status_code=422)

    @app.exception_handler(SuanliError)
    async def _user_error(_req: Request, exc: SuanliError) -> JSONResponse:
        code = 422 if isinstance(exc, InfeasibleError) else 400
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=code)

    import importlib.util

    if importlib.util.find_spec("suanli.service.web.routes"):  # the dashboard: "/" + assets
        from suanli.service.web.routes import router as web_router

        app.include_router(web_router)
    app.add_middleware(JsonGuard)
    app.add_middleware(Timing, metrics=state.metrics)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app
