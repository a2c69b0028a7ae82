"""Processing and delivery outcomes into Prometheus metrics."""

from __future__ import annotations

import time

from crossdock.bus import Delivery
from crossdock.observability.metrics import Metrics
from crossdock.runtime.delivery import DeliveryObserver
from crossdock.runtime.processor import ProcessorObserver


class MetricsObserver(DeliveryObserver, ProcessorObserver):
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def delivered(self, delivery: Delivery, seconds: float) -> None:
        flow, target = delivery.message.flow, delivery.destination
        self._m.delivered.labels(flow, target).inc()
        self._m.delivery_seconds.labels(target).observe(seconds)
        age = max(0.0, time.time() - delivery.message.received_at)
        self._m.end_to_end_seconds.labels(flow, target).observe(age)

    def failed(self, delivery: Delivery, kind: str) -> None:
        self._m.failed.labels(delivery.message.flow, delivery.destination, kind).inc()

    def parked(self, delivery: Delivery) -> None:
        self._m.parked.labels(delivery.message.flow, delivery.destination).inc()

    def paused(self, endpoint: str, paused: bool) -> None:
        self._m.endpoint_paused.labels(endpoint).set(1 if paused else 0)

    def routed(self, flow: str, targets: list[str]) -> None:
        for target in targets:
            self._m.routed.labels(flow, target).inc()

    def filtered(self, flow: str, reason: str) -> None:
        self._m.filtered.labels(flow, reason).inc()

    def not_mapped(self, flow: str, target: str | None) -> None:
        self._m.parked.labels(flow, target or "intake").inc()
