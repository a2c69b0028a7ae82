"""Target faults, seen from outside: hub -> fault proxy -> target.

One hub runs every scenario at once, each on its own webhook endpoint, flow, target
endpoint, fault proxy and target, so that the long ones (an endpoint paused by a 401
waits out its probe interval) overlap the others. Each scenario asserts from the journal
(timestamps, attempts, details) and from what the proxy and the target saw. At the end,
every message is delivered, or parked with its last error.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from e2e_kit import (
    HOST,
    Arrival,
    HubProcess,
    Mode,
    Reply,
    Target,
    TimedProxy,
    created,
    crossdock_cli,
    free_port,
    metric_value,
    open_store,
    post_hook,
    wait_until,
    write_config,
)

from crossdock.bus import Journey, SqliteBackend

PAUSE_PROBE = 2.0  # breaker.auth_probe of the auth endpoint
NO_BREAKER = {"threshold": 1000, "cooldown": "1s", "max_cooldown": "1s"}


@dataclass
class Scenario:
    """One scenario's plumbing: webhook ``<name>-in`` -> flow -> endpoint ``<name>``."""

    name: str
    settings: dict[str, Any]
    target_options: dict[str, Any]
    target: Target = field(default_factory=Target)
    proxy: TimedProxy | None = None
    sent: dict[str, Any] = field(default_factory=dict)  # message id -> body

    async def start(self) -> None:
        await self.target.start()
        self.proxy = TimedProxy(HOST, self.target.port)
        await self.proxy.start()

    async def stop(self) -> None:
        if self.proxy is not None:
            await self.proxy.stop()
        await self.target.stop()

    def endpoints(self) -> dict[str, Any]:
        assert self.proxy is not None
        settings = {"base_url": self.proxy.url, "path": f"/{self.name}/{{key}}", **self.settings}
        return {
            f"{self.name}-in": {"connector": "webhook"},
            self.name: {"connector": "http", "settings": settings},
        }

    def flow(self) -> dict[str, Any]:
        on_park = self.target_options.pop("on_park", "hold")
        return {
            "source": f"{self.name}-in",
            "key": "key",
            "on_park": on_park,
            "targets": [{"endpoint": self.name, **self.target_options}],
        }


@dataclass
class Run:
    hub: HubProcess
    session: aiohttp.ClientSession
    store: SqliteBackend

    async def send(self, scenario: Scenario, key: str, **fields: Any) -> str:
        body = {"key": key, **fields}
        status, answer = await post_hook(self.session, self.hub.url, f"{scenario.name}-in", body)
        assert status == 202, (status, answer)
        message_id = str(answer["ids"][0])
        scenario.sent[message_id] = body
        return message_id

    async def journey(self, message_id: str) -> Journey:
        found = await self.store.journey(message_id)
        assert found is not None
        return found

    async def settled(self, message_id: str, status: str, timeout: float = 30) -> Journey:
        async def reached() -> Journey | None:
            found = await self.journey(message_id)
            return found if found.summary.status.value == status else None

        found: Journey = await wait_until(
            reached, timeout=timeout, what=f"{message_id} {status}", interval=0.1
        )
        return found


def _at(found: Journey, step: str) -> list[Any]:
    return [e for e in found.entries if e.step.value == step]


# -- scenarios -----------------------------------------------------------------------------

BACKOFF = [0.2, 0.4, 0.8, 1.6]  # initial_delay 0.2s, multiplier 2, jitter 0


def backoff_scenario() -> Scenario:
    return Scenario(
        "backoff",
        {"breaker": NO_BREAKER},
        {"retry": {"initial_delay": "0.2s", "multiplier": 2, "jitter": 0, "max_attempts": 10}},
    )


async def backoff(run: Run, s: Scenario) -> str:
    """500s, then recovery: delivered after retries spaced by the configured back-off."""
    s.target.script.extend(Reply(500, {"error": "down"}) for _ in BACKOFF)
    message_id = await run.send(s, "b1")
    found = await run.settled(message_id, "delivered")
    arrivals = s.target.arrivals
    assert [a.attempt for a in arrivals] == [1, 2, 3, 4, 5]
    assert {a.idempotency_key for a in arrivals} == {f"{message_id}:backoff"}
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(arrivals)]
    failed = _at(found, "failed")
    assert [e.attempt for e in failed] == [1, 2, 3, 4]
    for entry, delay, gap in zip(failed, BACKOFF, gaps, strict=True):
        planned = entry.detail["next_try"] - entry.at
        assert delay - 0.3 < planned <= delay + 0.001, (planned, delay)
        assert delay <= gap < delay + 2.0, (gap, delay)  # never early; late by a poll at most
    assert _at(found, "delivered")[0].attempt == 5
    return f"backoff: gaps {[round(g, 2) for g in gaps]} for delays {BACKOFF}"


def retry_after_scenario() -> Scenario:
    return Scenario(
        "retry-after",
        {"breaker": NO_BREAKER},
        {"retry": {"initial_delay": "0.1s", "jitter": 0, "max_attempts": 5}},
    )


async def retry_after(run: Run, s: Scenario) -> str:
    """429 with Retry-After: 2 -> the next attempt comes no sooner than 2 s later."""
    assert s.proxy is not None
    await s.proxy.set_mode(Mode.ANSWER_429, retry_after=2)
    message_id = await run.send(s, "r1")
    await wait_until(lambda: s.proxy.made_up, timeout=30, what="the 429")  # type: ignore[union-attr]
    await s.proxy.set_mode(Mode.PASS)
    found = await run.settled(message_id, "delivered")
    [(answered_429, _mode)] = s.proxy.made_up
    [arrival] = s.target.arrivals
    [failed] = _at(found, "failed")
    assert failed.detail["retry_after"] == 2.0
    assert failed.detail["next_try"] - failed.at > 2 - 0.3
    waited = arrival.at - answered_429
    assert waited >= 2.0, f"retried {waited:.2f}s after a 429 with Retry-After: 2"
    assert arrival.attempt == 2
    return f"retry-after: next attempt {waited:.2f}s after the 429"


def breaker_scenario() -> Scenario:
    return Scenario(
        "breaker",
        {"concurrency": 1, "breaker": {"threshold": 3, "cooldown": "1s", "max_cooldown": "2s"}},
        {
            "retry": {
                "initial_delay": "0.1s",
                "max_delay": "0.1s",
                "multiplier": 1,
                "jitter": 0,
                "max_attempts": 100,
            }
        },
    )


async def breaker(run: Run, s: Scenario) -> str:
    """Threshold 3, cooldown 1s (doubling to 2s): after 3 consecutive failures nothing
    reaches the target until a probe; the breaker closes when the target recovers."""
    assert s.proxy is not None
    await s.proxy.set_mode(Mode.ANSWER_500)
    ids = [await run.send(s, f"k{i}") for i in range(3)]
    await wait_until(lambda: len(s.proxy.made_up) >= 6, timeout=30, what="3 failures, 3 probes")  # type: ignore[union-attr]
    gauge = 'crossdock_breaker_open{endpoint="breaker"}'
    assert await metric_value(run.session, run.hub.url, gauge) == 1.0
    await s.proxy.set_mode(Mode.PASS)
    for message_id in ids:
        await run.settled(message_id, "delivered")
    assert await metric_value(run.session, run.hub.url, gauge) == 0.0
    failures = [at for at, _mode in s.proxy.made_up]
    gaps = [b - a for a, b in itertools.pairwise(failures)]
    # closed: the first three go without a cool-down between them (retries are due at 0.1s)
    assert gaps[0] < 1.0 and gaps[1] < 1.0, gaps
    # open after the 3rd: the probe comes after the 1s cool-down, the next ones after 2s
    assert gaps[2] >= 1.0, gaps
    assert all(g >= 2.0 for g in gaps[3:]), gaps
    assert s.proxy.requests == len(s.proxy.made_up) + len(s.target.arrivals), "nothing else"
    arrivals = s.target.arrivals
    assert len(arrivals) == 3 and {a.message_id for a in arrivals} == set(ids)
    assert arrivals[0].at - failures[-1] >= 2.0, "the successful probe waited its cool-down"
    after_probe = [b.at - a.at for a, b in itertools.pairwise(arrivals)]
    assert all(g < 1.0 for g in after_probe), f"closed after the probe: {after_probe}"
    return f"breaker: gaps between failures {[round(g, 2) for g in gaps]}, then closed"


def network_scenario() -> Scenario:
    return Scenario(
        "network",
        {"breaker": NO_BREAKER, "timeout": "3s"},
        {
            "retry": {
                "initial_delay": "0.2s",
                "max_delay": "1s",
                "multiplier": 1.5,
                "jitter": 0,
                "max_attempts": 100,
            }
        },
    )


async def network(run: Run, s: Scenario) -> str:
    """Answers reset mid-way (the target got the request), then refused connections,
    then resets on accept: all retried, nothing lost, first arrivals in order per key."""
    assert s.proxy is not None
    await s.proxy.set_mode(Mode.RESET_MID_ANSWER, body_bytes=1)
    ids = [await run.send(s, key, n=n) for n in range(2) for key in ("n1", "n2")]

    async def failures_with(text: str) -> bool:
        journeys = [await run.journey(m) for m in ids]
        return any(text in str(e.detail.get("error", "")) for j in journeys for e in j.entries)

    await wait_until(lambda: s.proxy.forwarded >= 3, timeout=30, what="resets mid-answer")  # type: ignore[union-attr]
    await s.proxy.set_mode(Mode.REFUSE)
    await wait_until(
        lambda: failures_with("cannot connect"), timeout=30, what="a refused connection"
    )
    await s.proxy.set_mode(Mode.RESET)
    accepted_before = s.proxy.accepted
    await wait_until(lambda: s.proxy.accepted > accepted_before + 1, timeout=30, what="resets")  # type: ignore[union-attr]
    await s.proxy.set_mode(Mode.PASS)
    for message_id in ids:
        await run.settled(message_id, "delivered")
    firsts: dict[str, Arrival] = {}
    for arrival in s.target.arrivals:
        first = firsts.setdefault(arrival.message_id, arrival)
        assert arrival.idempotency_key == first.idempotency_key
    assert set(firsts) == set(ids), "lost"
    for key in ("n1", "n2"):
        order = [a.json()["n"] for a in firsts.values() if a.json()["key"] == key]
        assert order == [0, 1], f"key {key}: {order}"
    duplicates = len(s.target.arrivals) - len(firsts)
    assert duplicates >= 1, "a reset mid-answer comes after the target got the request"
    errors = set()
    for message_id in ids:
        for entry in _at(await run.journey(message_id), "failed"):
            errors.update(re.findall(r" failed: (\w+)", str(entry.detail["error"])))
    return f"network: 4 delivered, {duplicates} duplicate arrivals; errors {sorted(errors)}"


def park_scenario() -> Scenario:
    return Scenario(
        "park",
        {"breaker": NO_BREAKER},
        {"on_park": "hold", "retry": {"initial_delay": "0.1s", "max_attempts": 5}},
    )


def _refuse_bad(arrival: Arrival) -> Reply:
    if arrival.json().get("bad"):
        return Reply(422, {"error": "invalid", "detail": "field amount must be positive"})
    return created(arrival)


async def park(run: Run, s: Scenario) -> str:
    """A 422 parks the message at once, with the status and body in the journal; later
    messages of its key are held while other keys go on; a replay releases them in order."""
    s.target.respond = _refuse_bad
    a1 = await run.send(s, "A", bad=True)
    a2 = await run.send(s, "A", n=2)
    b1 = await run.send(s, "B", n=1)
    b2 = await run.send(s, "B", n=2)
    parked = await run.settled(a1, "parked")
    await run.settled(b1, "delivered")
    await run.settled(b2, "delivered")
    b3 = await run.send(s, "B", n=3)  # sent after A2: delivered while A2 stays held
    await run.settled(b3, "delivered")
    assert (await run.journey(a2)).summary.status.value == "queued"
    assert a2 not in {a.message_id for a in s.target.arrivals}, "held behind the parked A1"
    [entry] = _at(parked, "parked")
    assert entry.attempt == 1 and not _at(parked, "failed"), "a 422 is not retried"
    assert entry.detail["error_class"] == "HttpRejected"
    assert "422" in entry.detail["error"], entry.detail
    assert "field amount must be positive" in entry.detail["error"], entry.detail
    assert entry.detail["status"] == 422, entry.detail  # also as data, for tools and queries
    assert "field amount must be positive" in str(entry.detail["body"]), entry.detail
    # the operator fixes the cause and replays: A1, then the held A2, in order
    s.target.respond = created
    code, _out, err = await crossdock_cli("replay", a1, "--store", str(run.store.path))
    assert code == 0, err
    await run.settled(a1, "delivered")
    await run.settled(a2, "delivered")
    order = [a.message_id for a in s.target.arrivals if a.message_id in (a1, a2)]
    assert order == [a1, a1, a2], order  # refused, replayed, then the held one
    return "park: 422 parked with status and body; A held while B delivered; replay in order"


def exhaust_scenario() -> Scenario:
    return Scenario(
        "exhaust",
        {"breaker": NO_BREAKER},
        {
            "on_park": "skip",
            "retry": {"initial_delay": "0.1s", "multiplier": 1, "jitter": 0, "max_attempts": 3},
        },
    )


async def exhaust(run: Run, s: Scenario) -> str:
    """A target that keeps answering 503: parked after max_attempts, with the last error."""
    s.target.respond = lambda _a: Reply(503, {"error": "maintenance"})
    message_id = await run.send(s, "x1")
    found = await run.settled(message_id, "parked")
    assert [a.attempt for a in s.target.arrivals] == [1, 2, 3]
    assert [e.attempt for e in _at(found, "failed")] == [1, 2]
    [entry] = _at(found, "parked")
    assert entry.attempt == 3
    assert entry.detail["reason"] == "gave up after 3 attempts"
    assert "503" in entry.detail["error"] and "maintenance" in entry.detail["error"]
    return "exhaust: parked after 3 attempts with the last 503"


def auth_scenario() -> Scenario:
    breaker = {"auth_probe": f"{PAUSE_PROBE}s"}
    return Scenario("auth", {"breaker": breaker}, {"retry": {"max_attempts": 1}})


async def auth(run: Run, s: Scenario) -> str:
    """A 401 pauses the endpoint: failed with endpoint_paused, the gauge is 1, no attempt
    is spent (max_attempts is 1, yet a refused probe and then a good one follow), nothing
    reaches the target between probes, and nothing is lost once the target accepts again."""
    refusing = True
    s.target.respond = lambda a: Reply(401, {"error": "token expired"}) if refusing else created(a)
    ids = [await run.send(s, key) for key in ("u1", "u2", "u3")]

    async def paused_in_journal() -> bool:
        journeys = [await run.journey(m) for m in ids]
        return any(e.detail.get("endpoint_paused") for j in journeys for e in _at(j, "failed"))

    await wait_until(paused_in_journal, timeout=30, what="failed with endpoint_paused")
    gauge = 'crossdock_endpoint_paused{endpoint="auth"}'
    assert await metric_value(run.session, run.hub.url, gauge) == 1.0
    # A request already out when the first 401 came back is refused too, a moment later;
    # the probe comes PAUSE_PROBE after the pause.
    await asyncio.sleep(0.3)
    first_refusals = len(s.target.arrivals)
    await wait_until(
        lambda: len(s.target.arrivals) > first_refusals, timeout=30, what="a refused probe"
    )
    refused = list(s.target.arrivals)
    refusing = False
    for message_id in ids:
        await run.settled(message_id, "delivered", timeout=PAUSE_PROBE + 30)
    accepted = s.target.arrivals[len(refused) :]
    assert all(a.attempt == 1 for a in s.target.arrivals), "a 401 spends no attempt"
    assert len(refused) == first_refusals + 1, "one probe at a time while paused"
    times = [a.at for a in refused[first_refusals - 1 :]] + [accepted[0].at]
    pauses = [b - a for a, b in itertools.pairwise(times)]
    assert all(p >= PAUSE_PROBE - 0.1 for p in pauses), f"a request inside a pause: {pauses}"
    assert {a.message_id for a in accepted} == set(ids)
    for message_id in ids:
        found = await run.journey(message_id)
        for entry in _at(found, "failed"):
            assert entry.detail["endpoint_paused"] is True
            assert entry.detail["error_class"] == "AuthError"
            assert entry.attempt == 1
        assert _at(found, "delivered")[0].attempt == 1
    assert await metric_value(run.session, run.hub.url, gauge) == 0.0
    return (
        f"auth: {first_refusals} refused, then {len(refused) - first_refusals} refused probe;"
        f" pauses {[round(p, 2) for p in pauses]}s; all delivered at attempt 1"
    )


SCENARIOS: list[tuple[Callable[[], Scenario], Callable[[Run, Scenario], Awaitable[str]]]] = [
    (backoff_scenario, backoff),
    (retry_after_scenario, retry_after),
    (breaker_scenario, breaker),
    (network_scenario, network),
    (park_scenario, park),
    (exhaust_scenario, exhaust),
    (auth_scenario, auth),
]


async def test_target_faults(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    make_hub: Callable[..., HubProcess],
) -> None:
    scenarios = [make() for make, _check in SCENARIOS]
    for scenario in scenarios:
        await scenario.start()
    try:
        port = free_port()
        endpoints: dict[str, Any] = {}
        for scenario in scenarios:
            endpoints.update(scenario.endpoints())
        config = write_config(
            tmp_path,
            {
                "store": {"path": "hub.db"},
                "server": {"port": port},
                "endpoints": endpoints,
                "flows": {s.name: s.flow() for s in scenarios},
            },
        )
        hub = make_hub(config, port, grace=1.0)
        await hub.start_ready()
        store = await open_store(tmp_path / "hub.db")
        try:
            run = Run(hub, session, store)
            results = await asyncio.gather(
                *(check(run, s) for s, (_make, check) in zip(scenarios, SCENARIOS, strict=True)),
                return_exceptions=True,
            )
            for line in results:
                print(line if isinstance(line, str) else f"FAILED: {line!r}")
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                raise failures[0]
            # every message ends delivered, or parked with its last error
            for scenario in scenarios:
                for message_id in scenario.sent:
                    found = await run.journey(message_id)
                    status = found.summary.status.value
                    assert status in ("delivered", "parked"), (scenario.name, status)
                    if status == "parked":
                        last = found.entries[-1]
                        assert last.step.value == "parked" and last.detail["error"]
        finally:
            await store.close()
        code, _seconds = await hub.stop()
        assert code == 0, hub.log_tail()
        paused = [e for e in hub.logs() if "endpoint paused" in str(e.get("event", ""))]
        assert paused and paused[0]["probe_in"] == PAUSE_PROBE
        circuit = [
            (str(e["event"]).split(":")[0], e["level"])
            for e in hub.logs()
            if e.get("endpoint") == "breaker"
            and str(e.get("event", "")).startswith(("circuit", "probe failed"))
        ]
        # opened once, each failed probe said so (bounded by the cool-down), closed once
        assert circuit[0] == ("circuit open", "warning"), circuit
        assert circuit[-1] == ("circuit closed", "warning"), circuit
        assert 3 <= len(circuit) <= 6, circuit
    finally:
        for scenario in scenarios:
            await scenario.stop()
