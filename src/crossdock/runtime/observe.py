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
        m, flow, target = self._m, delivery.message.flow, delivery.destination
        m.child(m.delivered, flow, target).inc()
        m.child(m.delivery_seconds, target).observe(seconds)
        age = max(0.0, time.time() - delivery.message.received_at)
        m.child(m.end_to_end_seconds, flow, target).observe(age)

    def failed(self, delivery: Delivery, kind: str) -> None:
        self._m.child(self._m.failed, delivery.message.flow, delivery.destination, kind).inc()

    def parked(self, delivery: Delivery) -> None:
        self._m.child(self._m.parked, delivery.message.flow, delivery.destination).inc()

    def paused(self, endpoint: str, paused: bool) -> None:
        self._m.endpoint_paused.labels(endpoint).set(1 if paused else 0)

    def breaker(self, endpoint: str, open_: bool) -> None:
        self._m.breaker_open.labels(endpoint).set(1 if open_ else 0)

    def routed(self, flow: str, targets: list[str]) -> None:
        for target in targets:
            self._m.child(self._m.routed, flow, target).inc()

    def filtered(self, flow: str, reason: str) -> None:
        self._m.child(self._m.filtered, flow, reason).inc()

    def not_mapped(self, flow: str, target: str | None) -> None:
        self._m.child(self._m.parked, flow, target or "intake").inc()
