from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crossdock.core.limits import BreakerState, CircuitBreaker, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@given(st.floats(0.5, 500), st.integers(1, 50), st.lists(st.floats(0, 2), max_size=200))
def test_bucket_never_exceeds_its_rate(rate: float, burst: int, gaps: list[float]) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, burst, clock)
    start, granted = clock.now, 0
    for gap in gaps:
        clock.now += gap
        if bucket.take() == 0:
            granted += 1
    assert granted <= burst + (clock.now - start) * rate + 1e-6


@given(
    st.floats(0.5, 500),
    st.integers(1, 50),
    st.integers(1, 4),
    st.lists(st.tuples(st.floats(0, 2), st.integers(0, 3)), max_size=200),
)
def test_shares_of_a_bucket_keep_to_it_together(
    rate: float, burst: int, workers: int, takes: list[tuple[float, int]]
) -> None:
    clock = FakeClock()
    shares = [TokenBucket.shared(rate, burst, workers, clock) for _ in range(workers)]
    start, granted = clock.now, 0
    for gap, which in takes:
        clock.now += gap
        if shares[which % workers].take() == 0:
            granted += 1
    assert granted <= max(burst, workers) + (clock.now - start) * rate + 1e-6


def test_a_share_is_an_even_part_of_rate_and_burst() -> None:
    share = TokenBucket.shared(10, 6, 2)
    assert (share.rate, share.burst) == (5, 3)
    assert TokenBucket.shared(10, 1, 2).burst == 1  # at least one token at a time


def test_bucket_wait_is_exact() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock)
    assert bucket.take() == 0
    wait = bucket.take()
    assert abs(wait - 0.1) < 1e-9
    clock.now += wait
    assert bucket.take() == 0


def test_breaker_opens_after_threshold_and_probes_once() -> None:
    clock = FakeClock()
    b = CircuitBreaker(threshold=3, cooldown=10, clock=clock)
    for _ in range(2):
        b.failure()
    assert b.allow() == 0
    assert b.state is BreakerState.CLOSED
    b.failure()
    assert b.state is BreakerState.OPEN
    assert b.allow() == 10
    clock.now += 10
    assert b.allow() == 0  # the probe
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow() > 0  # only one probe at a time
    b.failure()  # the probe failed: open again, longer
    assert b.state is BreakerState.OPEN
    assert b.allow() == 20
    clock.now += 20
    assert b.allow() == 0
    b.success()
    assert b.state is BreakerState.CLOSED
    assert b.allow() == 0


def test_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(threshold=2, clock=FakeClock())
    b.failure()
    b.success()
    b.failure()
    assert b.state is BreakerState.CLOSED


@given(
    st.floats(0.5, 500),
    st.integers(1, 50),
    st.lists(st.tuples(st.floats(0, 2), st.integers(1, 20), st.integers(0, 20)), max_size=100),
)
def test_taking_several_tokens_keeps_to_the_rate(
    rate: float, burst: int, takes: list[tuple[float, int, int]]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, burst, clock)
    start, used = clock.now, 0
    for gap, wanted, unused in takes:
        clock.now += gap
        granted, wait = bucket.take_up_to(wanted)
        assert 0 <= granted <= wanted
        assert (granted == 0) == (wait > 0)
        back = min(unused, granted)
        bucket.give_back(back)
        used += granted - back
    assert used <= burst + (clock.now - start) * rate + 1e-6
