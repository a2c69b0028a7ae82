"""Retry policy: what to do after a failed delivery attempt.

A `RetryPolicy` turns (attempt, age of the message, the error) into a `Decision`: retry at
a given time, or park. Exponential back-off with full-range jitter around the nominal
delay, capped; a target's own ``Retry-After`` hint is honoured (never retried sooner);
permanent errors park at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from crossdock.core.errors import PermanentError, TransientError


@dataclass(frozen=True, slots=True)
class Decision:
    """``retry_in`` seconds from now, or park (``retry_in`` is None) with ``reason``."""

    retry_in: float | None
    reason: str

    @property
    def park(self) -> bool:
        return self.retry_in is None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    initial_delay: float = 1.0
    max_delay: float = 600.0
    multiplier: float = 2.0
    jitter: float = 0.2  # the delay varies by up to ± this fraction
    max_age: float = 86400.0  # seconds since the message was received

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The back-off after failed attempt number ``attempt`` (1-based)."""
        nominal = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        spread = nominal * self.jitter
        pick = (rng or random).uniform(-spread, spread)
        return max(0.0, min(self.max_delay, nominal + pick))

    def decide(
        self, attempt: int, age: float, error: Exception, rng: random.Random | None = None
    ) -> Decision:
        """The decision after failed attempt ``attempt`` of a message ``age`` seconds old."""
        if isinstance(error, PermanentError):
            return Decision(None, "permanent error")
        if not isinstance(error, TransientError):
            return Decision(None, f"unexpected error {type(error).__name__}")
        if attempt >= self.max_attempts:
            return Decision(None, f"gave up after {attempt} attempts")
        wait = self.delay(attempt, rng)
        if error.retry_after is not None:
            wait = max(wait, error.retry_after)
        if age + wait > self.max_age:
            return Decision(None, f"message older than max_age ({self.max_age:.0f}s)")
        return Decision(wait, "transient error")
