"""The poller: runs one ``poll`` endpoint's schedule and stores what each poll finds.

One poll reads the committed cursor (``poll:<endpoint>``), GETs every page with it, drops
the records stored before (see ``crossdock.connectors.poll.records``), builds one message
per record per flow fed by the endpoint, and stores the messages *and* the new cursor in
one commit (`Backend.enqueue_many`). A crash before that commit stores nothing and leaves
the cursor where it was, so the next poll asks again; a crash after it has everything.
Either way no record is lost or stored twice.

What a failed poll does next (the cursor never moves on a failure):

- transient (network, timeout, 408/425/429/5xx, the store unavailable): try the whole poll
  again after an exponential back-off (1s, 2s, 4s ... 5 min, ±20%), never sooner than the
  service's ``Retry-After``;
- auth (401/403): log an alert, wait `auth_pause` (15 min) or until the next scheduled
  poll, whichever is later;
- refused or malformed (other 4xx, 3xx, not JSON, no list, a Link to another host): log
  the error and poll again at the next scheduled time.

An interval schedule polls at once on start, then every ``interval`` (start to start; a
poll longer than that is followed at once by the next). A cron schedule polls at each
matching minute, in UTC. The hub starts one `Poller` per name from `pollers_for`, runs
``run()`` as a task and calls `stop()` at shutdown: a poll in progress is abandoned
(nothing of it is stored) and ``run()`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from crossdock.bus import Backend, Router
from crossdock.bus.base import store_routed
from crossdock.config import Config
from crossdock.config.connectors import PollSettings
from crossdock.connectors.poll import (
    CursorState,
    FlowKey,
    PollClient,
    build_messages,
    select_records,
)
from crossdock.core.cron import CronSchedule
from crossdock.core.errors import AuthError, PermanentError, StoreUnavailable, TransientError
from crossdock.core.paths import split_path
from crossdock.core.retry import RetryPolicy

__all__ = ["POLL_CONNECTOR", "Poller", "Schedule", "cursor_name", "pollers_for"]

POLL_CONNECTOR = "poll"
DEFAULT_INTERVAL = 60.0

log = structlog.get_logger(component="poller")
Clock = Callable[[], float]


def pollers_for(config: Config) -> list[str]:
    """Names of the ``poll`` endpoints that feed at least one flow, sorted."""
    fed = {source for flow in config.flows.values() for source in flow.sources}
    return sorted(
        name
        for name, endpoint in config.endpoints.items()
        if endpoint.connector == POLL_CONNECTOR and name in fed
    )


def cursor_name(endpoint: str) -> str:
    """The name under which an endpoint's cursor is committed."""
    return f"poll:{endpoint}"


class Schedule:
    """When polls are due, in epoch seconds: every ``interval``, or at cron minutes (UTC)."""

    def __init__(self, *, interval: float | None = None, cron: CronSchedule | None = None):
        if (interval is None) == (cron is None):
            raise ValueError("a schedule has an interval or a cron expression")
        self.interval = interval
        self.cron = cron

    @classmethod
    def of(cls, settings: PollSettings) -> Schedule:
        if settings.cron is not None:
            return cls(cron=CronSchedule.parse(settings.cron))
        interval = settings.interval.total_seconds() if settings.interval else DEFAULT_INTERVAL
        return cls(interval=interval)

    def first(self, now: float) -> float:
        """The first poll: at once for an interval, the next cron minute otherwise."""
        return now if self.cron is None else self._next_minute(now)

    def after(self, started: float, now: float) -> float:
        """The poll after one that started at ``started`` and ended at ``now``."""
        if self.interval is not None:
            return max(started + self.interval, now)
        return self._next_minute(now)

    def _next_minute(self, now: float) -> float:
        assert self.cron is not None
        return self.cron.next_after(datetime.fromtimestamp(now, UTC)).timestamp()


class Poller:
    """Polls one endpoint until stopped. See the module docstring for the contract."""

    def __init__(
        self,
        backend: Backend,
        config: Config,
        endpoint_name: str,
        *,
        clock: Clock = time.time,
        retry: RetryPolicy | None = None,
        auth_pause: float = 900.0,
        router: Router | None = None,
    ) -> None:
        settings = config.endpoints[endpoint_name].settings
        if not isinstance(settings, PollSettings):
            raise ValueError(f"endpoint {endpoint_name!r} is not a poll endpoint")
        self.endpoint = endpoint_name
        self.cursor_name = cursor_name(endpoint_name)
        self.settings = settings
        self.schedule = Schedule.of(settings)
        self._backend = backend
        self._router = router
        self._clock = clock
        self._retry = retry or RetryPolicy(initial_delay=1.0, max_delay=300.0, jitter=0.2)
        self._auth_pause = auth_pause
        self._flows = _flows_fed_by(config, endpoint_name)
        self._client = PollClient(settings)
        self._field = None if settings.cursor is None else split_path(settings.cursor.field)
        self._record_key = None if settings.record_key is None else split_path(settings.record_key)
        self._failures = 0
        self._stopping = asyncio.Event()
        self._log = log.bind(endpoint=endpoint_name, url=settings.url)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Poll on schedule until `stop`; never raises for a failed poll."""
        due = self.schedule.first(self._clock())
        while await self._wait_until(due):
            started = self._clock()
            poll = asyncio.create_task(self._attempt(started))
            stopped = asyncio.create_task(self._stopping.wait())
            await asyncio.wait([poll, stopped], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not poll.done():  # stopping: abandon the poll, nothing of it is stored
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll
                break
            due = poll.result()
        self._log.info("poller stopped")

    async def _wait_until(self, due: float) -> bool:
        """Wait until ``due`` (by the clock) or `stop`; False if stopped."""
        delay = due - self._clock()
        if delay > 0 and not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        return not self._stopping.is_set()

    async def _attempt(self, started: float) -> float:
        """Poll once; the time of the next poll, by how this one went."""
        try:
            await self.poll_once()
        except (TransientError, StoreUnavailable) as exc:
            return self._clock() + self._back_off(exc)
        except AuthError as exc:
            self._failures = 0
            self._log.error("poll refused our credentials", alert=True, error=str(exc))
            now = self._clock()
            return max(now + self._auth_pause, self.schedule.after(started, now))
        except PermanentError as exc:
            self._failures = 0
            self._log.error("poll failed", error=str(exc), error_class=type(exc).__name__)
        except Exception as exc:  # a bug: logged with its traceback, and the hub goes on
            self._log.exception("poll crashed", error_class=type(exc).__name__)
            return self._clock() + self._back_off(None)
        else:
            self._failures = 0
        return self.schedule.after(started, self._clock())

    def _back_off(self, exc: Exception | None) -> float:
        self._failures += 1
        wait = self._retry.delay(self._failures)
        hint = getattr(exc, "retry_after", None)
        if isinstance(hint, float | int):
            wait = max(wait, float(hint))
        if exc is not None:
            self._log.warning(
                "poll failed, will retry",
                error=str(exc),
                error_class=type(exc).__name__,
                failures=self._failures,
                retry_in=round(wait, 3),
            )
        return wait

    async def poll_once(self) -> int:
        """One poll, committed at once; the number of messages stored. Raises what the
        service's answer or the store calls for (see the module docstring)."""
        state = CursorState.load(await self._backend.get_cursor(self.cursor_name), self._initial)
        async with self._client.session():
            fetched = await self._client.fetch(state.value)
        selection = select_records(fetched.records, state, field=self._field, key=self._record_key)
        messages = build_messages(
            selection.records,
            self._flows,
            source=self.endpoint,
            event_type=self.settings.event_type,
            record_key=self._record_key,
            received_at=self._clock(),
        )
        moved = self._field is not None and selection.cursor != state
        cursor = (self.cursor_name, selection.cursor.to_json()) if moved else None
        if messages or cursor is not None:
            await store_routed(self._backend, messages, self._router, cursor=cursor)
        self._log.info(
            "polled",
            pages=fetched.pages,
            listed=len(fetched.records),
            stored=len(messages),
            skipped=selection.skipped,
            cursor=selection.cursor.value,
        )
        if fetched.truncated:
            self._log.warning("max_pages reached; the next poll goes on", max_pages=fetched.pages)
        if selection.without_cursor:
            self._log.warning("records without a cursor value", count=selection.without_cursor)
        return len(messages)

    @property
    def _initial(self) -> str | int | float | None:
        return None if self.settings.cursor is None else self.settings.cursor.initial


def _flows_fed_by(config: Config, endpoint: str) -> list[FlowKey]:
    flows = [
        FlowKey(name, None if flow.key is None else split_path(flow.key))
        for name, flow in config.flows.items()
        if endpoint in flow.sources
    ]
    if not flows:
        raise ValueError(f"endpoint {endpoint!r} feeds no flow; nothing would store its records")
    return flows
