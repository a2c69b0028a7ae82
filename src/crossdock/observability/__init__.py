"""Metrics (Prometheus) shared by the intake and the runtime."""

from __future__ import annotations

from crossdock.observability.metrics import Metrics

__all__ = ["Metrics"]
