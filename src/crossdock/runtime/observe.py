"""Delivery outcomes into Prometheus metrics."""

from __future__ import annotations

import time

from crossdock.bus import Delivery
from crossdock.observability.metrics import Metrics
from crossdock.runtime.delivery import DeliveryObserver


class MetricsObserver(DeliveryObserver):
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
