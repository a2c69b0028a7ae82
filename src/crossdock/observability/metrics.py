"""`Metrics`: every Prometheus metric of crossdock, in a registry of its own.

One instance per hub process, shared by the intake (which counts requests and refreshes
the queue gauges from ``backend.stats()`` every second) and the delivery workers (which
count outcomes and time deliveries). Each instance has a private `CollectorRegistry`, so
tests and several hubs in one process do not clash; `render` gives the text exposition
format served on ``GET /metrics``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from crossdock.bus.base import QueueStats

__all__ = ["Metrics"]

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)

QueueLabels = tuple[str, str]  # flow, destination
M = TypeVar("M", Counter, Gauge, Histogram)


class Metrics:
    """The metrics of one hub. Attributes are the `prometheus_client` metrics themselves:
    ``metrics.delivered.labels(flow="orders", target="erp").inc()``."""

    content_type = CONTENT_TYPE_PLAIN_0_0_4
    """Content-Type of `render`'s output."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._queues: set[QueueLabels] = set()
        self._children: dict[tuple[int, tuple[str, ...]], object] = {}
        self._intake_metrics()
        self._processing_metrics()
        self._delivery_metrics()
        self._queue_metrics()

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

    def _queue_metrics(self) -> None:
        r = self.registry
        self.queue_depth = Gauge(
            "crossdock_queue_depth",
            "Deliveries waiting or in flight (not parked), per flow and destination.",
            ["flow", "destination"],
            registry=r,
        )
        self.queue_parked = Gauge(
            "crossdock_queue_parked",
            "Deliveries in the dead-letter area, per flow and destination.",
            ["flow", "destination"],
            registry=r,
        )
        self.queue_oldest_age = Gauge(
            "crossdock_queue_oldest_age_seconds",
            "Age of the oldest waiting delivery (0 when none waits).",
            ["flow", "destination"],
            registry=r,
        )

    def child(self, metric: M, *labels: str) -> M:
        """``metric.labels(*labels)``, looked up once: counted per message, the lookup cost
        more than the count. Not for the queue gauges, whose children are removed."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return cast(M, found)

    def refresh_queues(self, stats: Iterable[QueueStats]) -> None:
        """Set the queue gauges from ``backend.stats()``; queues no longer listed are removed."""
        seen: set[QueueLabels] = set()
        for s in stats:
            labels = (s.flow, s.destination)
            seen.add(labels)
            self.queue_depth.labels(*labels).set(s.depth)
            self.queue_parked.labels(*labels).set(s.parked)
            self.queue_oldest_age.labels(*labels).set(s.oldest_age or 0.0)
        for labels in self._queues - seen:
            for gauge in (self.queue_depth, self.queue_parked, self.queue_oldest_age):
                gauge.remove(*labels)
        self._queues = seen

    def render(self) -> bytes:
        """Every metric in the Prometheus text format (`content_type`)."""
        return generate_latest(self.registry)
