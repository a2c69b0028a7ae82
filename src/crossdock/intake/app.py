"""The intake as an ASGI application: webhooks, health, readiness and metrics.

Mount it under uvicorn (or any ASGI server)::

    app = create_intake_app(config, backend, metrics=metrics)
    server = uvicorn.Server(uvicorn.Config(app, host=..., port=..., lifespan="on"))
    await server.serve()

On SIGTERM the runtime calls ``app.drain()`` (new requests get 503 with Retry-After,
readiness turns 503), waits for ``app.wait_idle()`` (with a timeout), then stops the
server and closes the backend. The store watch (depth for back-pressure, queue gauges,
readiness) starts with the ASGI lifespan, with `start`, or at the first request,
whichever comes first; `close` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback

import structlog

from crossdock.bus.base import Backend, Router
from crossdock.config import Config
from crossdock.intake.hooks import HookPlan, Hooks, plan_hooks
from crossdock.intake.http import (
    ClientGone,
    Receive,
    Refusal,
    Response,
    Scope,
    Send,
    json_response,
    request_headers,
    send_response,
)
from crossdock.intake.state import StoreWatch
from crossdock.observability.metrics import Metrics

__all__ = ["IntakeApp", "create_intake_app"]

log = structlog.get_logger("crossdock.intake")

_HOOKS = "/hooks/"
_GET_ROUTES = ("/healthz", "/readyz", "/metrics")


def create_intake_app(
    config: Config,
    backend: Backend,
    *,
    metrics: Metrics,
    router: Router | None = None,
    workers: int = 1,
) -> IntakeApp:
    """The intake for ``config``'s webhook endpoints, storing into ``backend``; with a
    ``router`` (the processor), each message with its outcome. ``workers``: how many
    processes serve the port (each takes its share of an endpoint's rate limit).

    Raises ValueError if an endpoint's signature scheme has no verifier or cannot use one
    of its secrets.
    """
    return IntakeApp(config, backend, metrics=metrics, router=router, workers=workers)


def _framing(scope: Scope) -> Refusal | None:
    """Why a request's first line or framing headers are not HTTP/1.x as RFC 9112 allows,
    if they are not: the parser reads some of these anyway, and a proxy in front of the hub
    could read them otherwise (request smuggling)."""
    version = scope.get("http_version", "1.1")  # ASGI: "1.1" when the server does not say
    if version not in ("1.0", "1.1", "2"):  # ASGI's "2" is HTTP/2 proper, not an HTTP/1 line
        # 400, not 505: garbage from a client is never answered with a 5xx
        detail = f"HTTP/{version} is not served here: use HTTP/1.1"
        return Refusal(400, "bad_request", detail, ("Connection", "close"))
    headers = scope["headers"]
    if version == "1.0" and any(name == b"transfer-encoding" for name, _ in headers):
        # RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing
        detail = "an HTTP/1.0 request cannot have a Transfer-Encoding header"
        return Refusal(400, "bad_request", detail, ("Connection", "close"))
    hosts = sum(1 for name, _ in headers if name == b"host")
    if hosts > 1 or (hosts == 0 and version == "1.1"):
        # RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one before it
        detail = "an HTTP/1.1 request needs one Host header" if hosts == 0 else "two Host headers"
        return Refusal(400, "bad_request", detail)
    return None


class IntakeApp:
    """A raw ASGI application (HTTP and lifespan). See the module docstring."""

    def __init__(
        self,
        config: Config,
        backend: Backend,
        *,
        metrics: Metrics,
        refresh_interval: float = 1.0,
        router: Router | None = None,
        workers: int = 1,
    ) -> None:
        self.metrics = metrics
        self._plans: dict[str, HookPlan] = plan_hooks(config, workers=workers)
        self._retry_after = ("Retry-After", str(config.server.retry_after))
        self.watch = StoreWatch(
            backend, metrics, interval=refresh_interval, stale_after=max(3.0, 3 * refresh_interval)
        )
        self._hooks = Hooks(
            backend,
            self.watch,
            max_queue_depth=config.server.max_queue_depth,
            retry_after=config.server.retry_after,
            read_timeout=config.server.read_timeout.total_seconds(),
            router=router,
        )
        self._watcher: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Read the queue figures once, then keep refreshing them every second."""
        if self._watcher is None:
            await self.watch.refresh()
            self._ensure_watching()

    def _ensure_watching(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(
                self.watch.run(), name="crossdock-intake-watch"
            )

    def drain(self) -> None:
        """Refuse new requests from now on (503 with Retry-After); readiness turns 503."""
        self.watch.draining = True

    @property
    def draining(self) -> bool:
        return self.watch.draining

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        return self._in_flight

    async def wait_idle(self) -> None:
        """Return when no request is being handled (bound it with `asyncio.timeout`)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Stop the store watch (the backend is the caller's to close)."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    # -- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: not served; the server closes the connection
        self._ensure_watching()
        self._in_flight += 1
        self._idle.clear()
        try:
            response = await self._respond(scope, receive)
            if response is not None:
                await send_response(send, response)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.drain()
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _respond(self, scope: Scope, receive: Receive) -> Response | None:
        """The answer to one request; None when the client left before it was read."""
        path: str = scope["path"]
        raw_path: bytes | None = scope.get("raw_path")
        if raw_path is not None and raw_path.decode("latin-1") != path:
            # percent-encoded: routes match only as written, so that a proxy's path rules
            # in front of the hub (e.g. deny /hooks/internal) cannot be walked around
            return Refusal(404, "not_found", "no such resource").response()
        refused = _framing(scope)
        if refused is not None:
            return refused.response()
        endpoint = path[len(_HOOKS) :] if path.startswith(_HOOKS) else None
        try:
            if endpoint is not None:
                return await self._hook(endpoint, scope, receive)
            return await self._get(path, scope["method"])
        except ClientGone:
            return None
        except Refusal as refusal:
            return refusal.response()
        except Exception as exc:
            _log_bug(exc, path if endpoint is None else f"{_HOOKS}{{endpoint}}")
            return json_response(500, {"error": "internal_error", "detail": "unexpected error"})

    async def _hook(self, endpoint: str, scope: Scope, receive: Receive) -> Response:
        plan = self._plans.get(endpoint)
        if plan is None:
            self.metrics.refused.labels("", "404").inc()
            raise Refusal(404, "not_found", "no webhook endpoint with this name")
        started = time.perf_counter()
        try:
            response, duplicate = await self._accept(plan, scope, receive)
        except Refusal as refusal:
            self.metrics.refused.labels(endpoint, str(refusal.status)).inc()
            raise
        counter = self.metrics.duplicates if duplicate else self.metrics.received
        self.metrics.child(counter, endpoint).inc()
        self.metrics.intake_seconds.observe(time.perf_counter() - started)
        return response

    async def _accept(
        self, plan: HookPlan, scope: Scope, receive: Receive
    ) -> tuple[Response, bool | None]:
        if not plan.flows:
            raise Refusal(404, "not_found", "endpoint has no flow")
        if scope["method"] != "POST":
            raise Refusal(405, "method_not_allowed", "use POST", ("Allow", "POST"))
        if self.watch.draining:
            raise Refusal(503, "draining", "the hub is shutting down", self._retry_after)
        return await self._hooks.handle(plan, request_headers(scope), receive)

    async def _get(self, path: str, method: str) -> Response:
        if path not in _GET_ROUTES:
            raise Refusal(404, "not_found", "no such resource")
        if method not in ("GET", "HEAD"):  # the server leaves out the body for HEAD
            raise Refusal(405, "method_not_allowed", "use GET", ("Allow", "GET, HEAD"))
        if path == "/healthz":
            return json_response(200, {"status": "ok"})
        if path == "/metrics":
            return Response(200, self.metrics.render(), content_type=self.metrics.content_type)
        if not self.watch.ever_read:  # the first probe may come before the first refresh
            await self.watch.refresh()
        if self.watch.ready():
            return json_response(200, {"status": "ready"})
        reason = (
            "draining" if self.watch.draining else "the store is not answering or cannot commit"
        )
        return json_response(503, {"status": "not ready", "detail": reason}, self._retry_after)


def _log_bug(exc: BaseException, route: str) -> None:
    """Log an unexpected error: its class and where it happened, never its message or
    local values (they may hold a body or a secret)."""
    where = traceback.extract_tb(exc.__traceback__)
    frames = [f"{f.filename}:{f.lineno} in {f.name}" for f in where[-5:]]
    log.error("unexpected error", route=route, error_class=type(exc).__name__, frames=frames)
