from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from crossdock.core.errors import PermanentError, TransientError
from crossdock.core.retry import RetryPolicy

policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 20),
    initial_delay=st.floats(0.01, 10),
    max_delay=st.floats(10, 3600),
    multiplier=st.floats(1, 4),
    jitter=st.floats(0, 1),
    max_age=st.floats(1, 10**6),
)


@given(policies, st.integers(1, 30), st.integers(0, 2**32))
def test_delay_within_jitter_and_cap(policy: RetryPolicy, attempt: int, seed: int) -> None:
    nominal = min(policy.max_delay, policy.initial_delay * policy.multiplier ** (attempt - 1))
    d = policy.delay(attempt, random.Random(seed))
    assert 0 <= d <= policy.max_delay
    assert nominal * (1 - policy.jitter) - 1e-9 <= d <= nominal * (1 + policy.jitter) + 1e-9


def test_delays_grow_exponentially_without_jitter() -> None:
    p = RetryPolicy(initial_delay=1, multiplier=2, max_delay=10, jitter=0)
    assert [p.delay(a) for a in range(1, 7)] == [1, 2, 4, 8, 10, 10]


@given(policies, st.integers(1, 30))
def test_never_retries_past_max_attempts(policy: RetryPolicy, attempt: int) -> None:
    decision = policy.decide(attempt, 0.0, TransientError("503"))
    if attempt >= policy.max_attempts:
        assert decision.park
    elif policy.delay(attempt) * (1 + policy.jitter) < policy.max_age * 0.5:
        assert decision.retry_in is not None


def test_permanent_and_unknown_errors_park_at_once() -> None:
    p = RetryPolicy()
    assert p.decide(1, 0, PermanentError("422")).park
    assert p.decide(1, 0, ValueError("bug")).park


@given(st.floats(0, 3600))
def test_retry_after_is_never_undercut(hint: float) -> None:
    p = RetryPolicy(initial_delay=0.5, jitter=0, max_age=10**6)
    decision = p.decide(1, 0, TransientError("429", retry_after=hint))
    assert decision.retry_in is not None
    assert decision.retry_in >= hint


def test_max_age_parks_an_old_message() -> None:
    p = RetryPolicy(initial_delay=60, jitter=0, max_age=100)
    assert p.decide(1, 30, TransientError("timeout")).retry_in == 60
    assert p.decide(1, 50, TransientError("timeout")).park
