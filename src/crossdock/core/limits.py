"""Per-endpoint limits: a token bucket for rate and a circuit breaker for outages.

Both are pure state machines over an injected clock; the delivery worker consults them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

Clock = Callable[[], float]


@dataclass(slots=True)
class TokenBucket:
    """At most ``rate`` operations per second on average, bursts up to ``burst``."""

    rate: float
    burst: float
    clock: Clock = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._tokens = self.burst
        self._at = self.clock()

    @classmethod
    def shared(
        cls, rate: float, burst: float, workers: int, clock: Clock = time.monotonic
    ) -> TokenBucket:
        """One of ``workers`` processes' even share of a limit of ``rate`` per second with
        bursts of ``burst``: together they keep to the limit (each takes at least one token
        at a time, so a burst smaller than ``workers`` is exceeded up to ``workers``)."""
        return cls(rate / workers, max(1.0, burst / workers), clock)

    def take_up_to(self, wanted: int) -> tuple[int, float]:
        """Take as many of ``wanted`` tokens as there are now. Returns how many were
        granted and, if none, the seconds to wait before asking again."""
        self._refill()
        granted = min(wanted, int(self._tokens))
        if granted > 0:
            self._tokens -= granted
            return granted, 0.0
        return 0, (1 - self._tokens) / self.rate

    def give_back(self, tokens: int) -> None:
        """Return tokens taken but not used."""
        self._tokens = min(self.burst, self._tokens + tokens)

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> float:
        """Take one token. Returns 0 if granted, else the seconds to wait before asking again."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


class BreakerState(StrEnum):
    CLOSED = "closed"  # deliveries flow
    OPEN = "open"  # the target is down: no attempts until the cool-down ends
    HALF_OPEN = "half_open"  # one probe is allowed through


@dataclass(slots=True)
class CircuitBreaker:
    """Stops spending attempts on a target that keeps failing, and probes it until it heals.

    After ``threshold`` consecutive transient failures the breaker opens for ``cooldown``
    seconds (doubling on each failed probe, up to ``max_cooldown``); then one probe goes
    through. A success closes it; a failure opens it again.
    """

    threshold: int = 5
    cooldown: float = 5.0
    max_cooldown: float = 300.0
    clock: Clock = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    _failures: int = 0
    _opened_at: float = 0.0
    _current_cooldown: float = 0.0
    _probing: bool = False

    def allow(self) -> float:
        """0 if an attempt may go now, else the seconds until the next probe."""
        if self.state is BreakerState.CLOSED:
            return 0.0
        remaining = self._opened_at + self._current_cooldown - self.clock()
        if self.state is BreakerState.OPEN and remaining > 0:
            return remaining
        if self._probing:
            return max(remaining, self._current_cooldown / 4, 0.05)
        self.state = BreakerState.HALF_OPEN
        self._probing = True
        return 0.0

    def success(self) -> None:
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._probing = False
        self._current_cooldown = 0.0

    def failure(self) -> None:
        """A transient failure (network, 5xx, timeout); permanent errors don't count."""
        if self.state is BreakerState.HALF_OPEN:
            self._open(min(self.max_cooldown, self._current_cooldown * 2))
            return
        self._failures += 1
        if self.state is BreakerState.CLOSED and self._failures >= self.threshold:
            self._open(self.cooldown)

    def probe_in(self) -> float:
        """Seconds until the next probe may go (0 when closed or due)."""
        if self.state is BreakerState.CLOSED:
            return 0.0
        return max(0.0, self._opened_at + self._current_cooldown - self.clock())

    def _open(self, cooldown: float) -> None:
        self.state = BreakerState.OPEN
        self._opened_at = self.clock()
        self._current_cooldown = cooldown
        self._probing = False
