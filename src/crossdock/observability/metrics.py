"""`Metrics`: every Prometheus metric of crossdock, in a registry of its own.

One instance per hub process, shared by the intake (which counts requests and refreshes
the queue gauges from ``backend.stats()`` every second) and the delivery workers (which
count outcomes and time deliveries). Each instance has a private `CollectorRegistry`, so
tests and several hubs in one process do not clash; `render` gives the text exposition
format served on ``GET /metrics``.

The worker processes of ``crossdock run --workers N`` share their metrics through a
folder (``shared``), so that a scrape answered by any worker shows the whole hub: each
worker writes its values there every second (`publish`, one file per process, replaced
whole), and a scrape adds its own live values to the others' files. Counters and
histograms are summed over the workers, those that ended included (the supervisor keeps
their last file: `forget_process`), so they never go back; the paused / breaker gauges
are 1 if any live worker has the endpoint paused or its circuit open. The queue gauges
are read from the shared store, so each worker shows them whole without sharing.
Counting stays as cheap as in one process (prometheus_client's multiprocess mode, which
writes to a shared file on every count, cost 45-75 µs per message); what another worker
counted shows up to a second late, and a worker killed outright loses at most its last
second of counts.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crossdock.bus.base import QueueStats

__all__ = ["Metrics", "forget_process"]

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)

M = TypeVar("M", Counter, Gauge, Histogram)


class Metrics:
    """The metrics of one hub. Attributes are the `prometheus_client` metrics themselves:
    ``metrics.delivered.labels(flow="orders", target="erp").inc()``."""

    content_type = CONTENT_TYPE_PLAIN_0_0_4
    """Content-Type of `render`'s output."""

    def __init__(self, shared: str | None = None) -> None:
        """``shared``: the folder the worker processes of one hub share their metrics in
        (see the module's docstring)."""
        self._shared = None if shared is None else Path(shared)
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], object] = {}
        self._intake_metrics()
        self._processing_metrics()
        self._delivery_metrics()
        self._queues = _QueueGauges()
        self.registry.register(self._queues)
        self._scraped = self.registry
        if self._shared is not None:  # this process's values and the other workers'
            self._scraped = CollectorRegistry(auto_describe=False)
            self._scraped.register(_Merged(self.registry, self._shared))
            self._scraped.register(self._queues)

    def _intake_metrics(self) -> None:
        r = self.registry
        self.received = Counter(
            "crossdock_received",
            "Webhook requests accepted and stored (repeated deliveries not counted).",
            ["endpoint"],
            registry=r,
        )
        self.duplicates = Counter(
            "crossdock_duplicate",
            "Webhook requests answered with the ids of an earlier delivery (idempotency).",
            ["endpoint"],
            registry=r,
        )
        self.refused = Counter(
            "crossdock_refused",
            "Webhook requests refused, by HTTP status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.intake_seconds = Histogram(
            "crossdock_intake_seconds",
            "Time from a webhook request's arrival to its 202 answer (store commit included).",
            buckets=_FAST,
            registry=r,
        )

    def _processing_metrics(self) -> None:
        r = self.registry
        self.routed = Counter(
            "crossdock_routed",
            "Messages routed and mapped, per flow and target.",
            ["flow", "target"],
            registry=r,
        )
        self.filtered = Counter(
            "crossdock_filtered",
            "Messages dropped on purpose, by reason: condition (the flow's when) or no_route "
            "(no target's when held).",
            ["flow", "reason"],
            registry=r,
        )

    def _delivery_metrics(self) -> None:
        r = self.registry
        self.delivered = Counter(
            "crossdock_delivered",
            "Deliveries applied by a target.",
            ["flow", "target"],
            registry=r,
        )
        self.failed = Counter(
            "crossdock_failed",
            "Delivery attempts that failed, by kind (transient, permanent, auth, bug).",
            ["flow", "target", "kind"],
            registry=r,
        )
        self.parked = Counter(
            "crossdock_parked",
            "Deliveries moved to the dead-letter area.",
            ["flow", "target"],
            registry=r,
        )
        self.endpoint_paused = Gauge(
            "crossdock_endpoint_paused",
            "1 while an endpoint is paused because it refused our credentials (401/403).",
            ["endpoint"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "crossdock_breaker_open",
            "1 while an endpoint's circuit breaker is open (the target keeps failing: no "
            "attempts but a probe now and then).",
            ["endpoint"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "crossdock_delivery_seconds",
            "Duration of one delivery attempt to a target.",
            ["target"],
            buckets=_FAST,
            registry=r,
        )
        self.end_to_end_seconds = Histogram(
            "crossdock_end_to_end_seconds",
            "Time from a message's reception to its delivery to a target.",
            ["flow", "target"],
            buckets=_SLOW,
            registry=r,
        )

    def child(self, metric: M, *labels: str) -> M:
        """``metric.labels(*labels)``, looked up once: counted per message, the lookup cost
        more than the count."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return cast(M, found)

    def refresh_queues(self, stats: Iterable[QueueStats]) -> None:
        """Set the queue gauges from ``backend.stats()``; queues no longer listed go."""
        self._queues.stats = list(stats)

    def render(self) -> bytes:
        """Every metric in the Prometheus text format (`content_type`)."""
        return generate_latest(self._scraped)

    @property
    def shared(self) -> bool:
        """Whether this process shares its metrics with other workers (`publish`)."""
        return self._shared is not None

    def publish(self) -> None:
        """Write this process's values for the other workers' scrapes (with ``shared``;
        the hub calls it every second and once more as it stops)."""
        if self._shared is None:
            return
        path = self._shared / f"{os.getpid()}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps(_families(self.registry)))
        temporary.replace(path)


_QUEUE_GAUGES: tuple[tuple[str, str, Callable[[QueueStats], float]], ...] = (
    (
        "crossdock_queue_depth",
        "Deliveries waiting or in flight (not parked), per flow and destination.",
        lambda s: float(s.depth),
    ),
    (
        "crossdock_queue_parked",
        "Deliveries in the dead-letter area, per flow and destination.",
        lambda s: float(s.parked),
    ),
    (
        "crossdock_queue_oldest_age_seconds",
        "Age of the oldest waiting delivery (0 when none waits).",
        lambda s: float(s.oldest_age or 0.0),
    ),
)


class _QueueGauges(Collector):
    """The queue gauges, as of the last `Metrics.refresh_queues` (read from the store)."""

    def __init__(self) -> None:
        self.stats: Sequence[QueueStats] = ()

    def collect(self) -> Iterator[Metric]:
        for name, documentation, value in _QUEUE_GAUGES:
            family = GaugeMetricFamily(name, documentation, labels=["flow", "destination"])
            for s in self.stats:
                family.add_metric([s.flow, s.destination], value(s))
            yield family


_QUEUES = frozenset(name for name, _, _ in _QUEUE_GAUGES)
_SUMMED = frozenset({"counter", "histogram", "summary"})


def _families(registry: CollectorRegistry) -> list[list[Any]]:
    """The registry's metrics but the queue gauges: [name, help, type, samples]."""
    return [
        [f.name, f.documentation, f.type, [[x.name, x.labels, x.value] for x in f.samples]]
        for f in registry.collect()
        if f.name not in _QUEUES
    ]


class _Merged(Collector):
    """This process's metrics (live) merged with what the other workers published."""

    def __init__(self, registry: CollectorRegistry, folder: Path) -> None:
        self._registry = registry
        self._folder = folder

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        values: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
        for live, published in [(True, _families(self._registry)), *self._published()]:
            for name, documentation, typ, samples in published:
                if typ not in _SUMMED and not live:
                    continue  # an ended worker's gauges ended with it
                families.setdefault(name, Metric(name, documentation, typ))
                for sample, labels, value in samples:
                    if not isinstance(value, int | float):
                        continue  # NaN is written as null: nothing to add up
                    key = (name, sample, tuple(sorted(labels.items())))
                    earlier = values.get(key)
                    if earlier is None:
                        values[key] = value
                    elif sample.endswith("_created"):
                        values[key] = min(earlier, value)
                    elif typ in _SUMMED:
                        values[key] = earlier + value
                    else:
                        values[key] = max(earlier, value)
        for (name, sample, labels), value in values.items():
            families[name].add_sample(sample, dict(labels), value)
        yield from families.values()

    def _published(self) -> Iterator[tuple[bool, list[list[Any]]]]:
        """(live, families) of every other worker's file; an unreadable one is skipped."""
        own = f"{os.getpid()}.json"
        for path in self._folder.glob("*.json"):
            if path.name == own:
                continue
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                yield not path.name.startswith("ended-"), orjson.loads(path.read_bytes())


def forget_process(folder: str, pid: int) -> None:
    """A worker process ended: its counts still count, its gauges no longer."""
    path = Path(folder, f"{pid}.json")
    with contextlib.suppress(FileNotFoundError):  # named apart from a later worker's own pid
        path.rename(path.with_name(f"ended-{pid}-{time.time_ns()}.json"))
