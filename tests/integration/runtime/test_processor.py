"""The processor on a real store: filter, route, map, park on mapping failure."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crossdock.bus import INTAKE, MessageQuery, MessageStatus, SqliteBackend, Step
from crossdock.bus.base import store_routed
from crossdock.config import load_config
from crossdock.core.envelope import Message
from crossdock.observability.metrics import Metrics
from crossdock.runtime.observe import MetricsObserver
from crossdock.runtime.plan import Plan
from crossdock.runtime.processor import Processor

CONFIG = """
version: 1
endpoints:
  shop: {connector: webhook}
  net: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
  field: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
  audit: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
flows:
  incidents:
    source: shop
    key: id
    when: [{path: state, not_equals: draft}]
    route: first
    targets:
      - endpoint: net
        when: [{path: category, equals: network}]
        mapping:
          fields:
            ref: id
            prio: {from: priority, map: {"1": critical, "2": high}}
      - endpoint: field
        when: [{path: category, in: [hardware, desk]}]
  copies:
    source: shop
    targets:
      - endpoint: net
      - endpoint: audit
        mapping: {keep: [id]}
"""


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@dataclass
class Env:
    backend: SqliteBackend
    processor: Processor
    at_intake: bool  # True: messages stored with the processor's outcome, as intake does

    async def send(self, flow: str, body: dict[str, object], source: str = "shop") -> str:
        msg = message(flow, body, source)
        router = self.processor if self.at_intake else None
        await store_routed(self.backend, [msg], router)
        return msg.id

    @property
    def routed_at(self) -> str | None:
        """Where the `routed` step is journaled: nowhere for a message routed at intake."""
        return None if self.at_intake else INTAKE


@pytest.fixture(params=["intake-queue", "at-intake"])
async def env(
    request: pytest.FixtureRequest, tmp_path: Path, metrics: Metrics
) -> AsyncIterator[Env]:
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CONFIG))
    plan = Plan.from_config(load_config(tmp_path / "c.yaml"))
    backend = await SqliteBackend.open(tmp_path / "s.db")
    observer = MetricsObserver(metrics)
    processor = Processor(backend, plan, idle_wait=0.05, observer=observer)
    task = asyncio.create_task(processor.run())
    yield Env(backend, processor, request.param == "at-intake")
    processor.stop()
    await task
    await backend.close()


def message(flow: str, body: dict[str, object], source: str = "shop") -> Message:
    return Message.new(
        flow=flow, source=source, event_type="ticket", body=body, key=str(body["id"])
    )


async def send(
    backend: SqliteBackend, flow: str, body: dict[str, object], source: str = "shop"
) -> str:
    msg = message(flow, body, source)
    await backend.enqueue(msg)
    return msg.id


async def settled(backend: SqliteBackend, message_id: str) -> list[tuple[str, str | None]]:
    """Wait until intake has no delivery of the message; return its journal steps."""
    for _ in range(200):
        journey = await backend.journey(message_id)
        assert journey is not None
        steps = [(e.step.value, e.destination) for e in journey.entries]
        if len(steps) > 1:
            return steps
        await asyncio.sleep(0.02)
    raise AssertionError("not processed in time")


async def test_first_match_routes_and_maps(env: Env) -> None:
    backend = env.backend
    mid = await env.send(
        "incidents", {"id": 1, "state": "new", "category": "network", "priority": 1}
    )
    steps = await settled(backend, mid)
    assert steps == [("received", None), ("routed", env.routed_at), ("mapped", "net")]
    [delivery] = await backend.claim("net", worker="t")
    assert delivery.payload == {"ref": 1, "prio": "critical"}
    assert await backend.claim("field", worker="t") == []


async def test_all_matches_fan_out_with_their_own_mappings(
    env: Env,
) -> None:
    backend = env.backend
    mid = await env.send("copies", {"id": 2, "secret": "x"})
    await settled(backend, mid)
    [to_net] = await backend.claim("net", worker="t")
    [to_audit] = await backend.claim("audit", worker="t")
    assert to_net.payload == {"id": 2, "secret": "x"}
    assert to_audit.payload == {"id": 2}


async def test_flow_condition_filters_with_the_rule(env: Env) -> None:
    backend = env.backend
    mid = await env.send("incidents", {"id": 3, "state": "draft", "category": "network"})
    await settled(backend, mid)
    journey = await backend.journey(mid)
    assert journey is not None
    assert journey.summary.status is MessageStatus.FILTERED
    assert journey.entries[-1].detail == {
        "rule": "flow.when: state not_equals 'draft'",
        "reason": "condition",
    }


async def test_no_route_is_reported_not_dropped_silently(
    env: Env,
) -> None:
    backend = env.backend
    mid = await env.send("incidents", {"id": 4, "state": "new", "category": "facilities"})
    await settled(backend, mid)
    found = await backend.find_messages(MessageQuery(status=MessageStatus.FILTERED))
    assert [m.id for m in found] == [mid]
    journey = await backend.journey(mid)
    assert journey is not None
    assert journey.entries[-1].detail == {"rule": "no route matched", "reason": "no_route"}


async def test_mapping_failure_parks_with_an_explanation_and_others_go_on(
    env: Env,
) -> None:
    backend = env.backend
    bad = await env.send(
        "incidents", {"id": 5, "state": "new", "category": "network", "priority": 9}
    )
    good = await env.send(
        "incidents", {"id": 6, "state": "new", "category": "network", "priority": 2}
    )
    await settled(backend, bad)
    await settled(backend, good)
    journey = await backend.journey(bad)
    assert journey is not None
    assert journey.summary.status is MessageStatus.PARKED
    parked = journey.entries[-1]
    assert parked.step is Step.PARKED
    assert parked.detail["error_class"] == "MappingError"
    assert parked.detail["error"] == (
        "flow incidents, target net: field prio from priority: no entry in the value map (value 9)"
    )
    [delivery] = await backend.claim("net", worker="t")
    assert delivery.message.id == good


async def test_decisions_are_counted_in_the_metrics(env: Env, metrics: Metrics) -> None:
    backend = env.backend
    bodies = [
        {"id": 20, "state": "new", "category": "network", "priority": 1},  # routed to net
        {"id": 21, "state": "draft", "category": "network"},  # condition
        {"id": 22, "state": "new", "category": "facilities"},  # no route
        {"id": 23, "state": "new", "category": "network", "priority": 8},  # not mapped
    ]
    for body in bodies:
        await settled(backend, await env.send("incidents", body))

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert value("crossdock_routed_total", flow="incidents", target="net") == 1
    assert value("crossdock_filtered_total", flow="incidents", reason="condition") == 1
    assert value("crossdock_filtered_total", flow="incidents", reason="no_route") == 1
    assert value("crossdock_parked_total", flow="incidents", target="net") == 1


async def test_unknown_flow_is_parked(env: Env) -> None:
    backend = env.backend
    mid = await env.send("gone", {"id": 7})
    await settled(backend, mid)
    journey = await backend.journey(mid)
    assert journey is not None
    assert journey.entries[-1].detail["error_class"] == "UnknownFlow"


@contextlib.asynccontextmanager
async def running(folder: Path, config: str) -> AsyncIterator[SqliteBackend]:
    """A store and a processor running on `config` until the block ends."""
    (folder / "c.yaml").write_text(textwrap.dedent(config))
    plan = Plan.from_config(load_config(folder / "c.yaml"))
    backend = await SqliteBackend.open(folder / "s.db")
    processor = Processor(backend, plan, idle_wait=0.05)
    task = asyncio.create_task(processor.run())
    try:
        yield backend
    finally:
        processor.stop()
        await task
        await backend.close()


HOSTILE = """
version: 1
endpoints:
  shop: {connector: webhook}
  net: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
flows:
  hostile:
    source: shop
    key: id
    targets:
      - endpoint: net
        mapping:
          fields:
            id: id
            blown: {expr: "xs | [@,@] | [@,@] | [@,@] | [@,@] | [@,@] | [@,@] | [@,@] | [@,@]"}
"""


async def test_a_hostile_expression_parks_its_message_and_the_worker_goes_on(
    tmp_path: Path,
) -> None:
    """An expression that explodes on one body (2^8 copies of a long list) is stopped by
    its limits; that message is parked with the reason, the next ones are mapped."""
    async with running(tmp_path, HOSTILE) as backend:
        started = asyncio.get_running_loop().time()
        bad = await send(backend, "hostile", {"id": 1, "xs": list(range(20_000))})
        goods = [await send(backend, "hostile", {"id": n, "xs": [n]}) for n in range(2, 6)]
        await settled(backend, bad)
        for good in goods:
            await settled(backend, good)
        assert asyncio.get_running_loop().time() - started < 5.0
        journey = await backend.journey(bad)
        assert journey is not None
        assert journey.summary.status is MessageStatus.PARKED
        error = journey.entries[-1].detail["error"]
        assert isinstance(error, str)
        assert error.startswith("flow hostile, target net: field blown from expr")
        assert "grew past" in error or "steps" in error
        delivered = await backend.claim("net", worker="t", limit=10)
        assert sorted(d.message.id for d in delivered) == sorted(goods)
        assert delivered[0].payload["blown"] is not None


CANONICAL = """
version: 1
endpoints:
  desk:
    connector: webhook
    mapping:
      to_canonical:
        fields:
          title: subject
          priority: {from: prio, map: {urgent: critical, normal: medium}}
  supplier:
    connector: http
    settings: {base_url: "http://127.0.0.1:9"}
    mapping:
      from_canonical:
        fields:
          summary: title
          level: {from: priority, map: {critical: P1, medium: P3}}
          note: {from: note, required: true, when: [{path: needs_note, equals: true}]}
flows:
  tickets:
    source: desk
    key: id
    targets:
      - endpoint: supplier
        when: [{expr: "priority == 'critical' || title == 'odd'"}]
        mapping:
          keep: [title, priority]
          fields: {needs_note: {expr: "title == 'odd'"}}
"""


async def test_endpoint_mappings_surround_the_flow(tmp_path: Path) -> None:
    """to_canonical before the conditions (which see canonical fields), then the target's
    mapping, then from_canonical; a failure in either names its stage."""
    async with running(tmp_path, CANONICAL) as backend:
        urgent = await send(
            backend, "tickets", {"id": 1, "subject": "VPN", "prio": "urgent"}, "desk"
        )
        normal = await send(
            backend, "tickets", {"id": 2, "subject": "Mouse", "prio": "normal"}, "desk"
        )
        unknown = await send(backend, "tickets", {"id": 3, "subject": "?", "prio": "later"}, "desk")
        odd = await send(backend, "tickets", {"id": 4, "subject": "odd", "prio": "normal"}, "desk")
        for mid in (urgent, normal, unknown, odd):
            await settled(backend, mid)
        [delivered] = await backend.claim("supplier", worker="t", limit=10)
        assert delivered.message.id == urgent
        assert delivered.payload == {"summary": "VPN", "level": "P1"}
        normal_journey = await backend.journey(normal)
        assert normal_journey is not None
        assert normal_journey.entries[-1].detail == {
            "rule": "no route matched",
            "reason": "no_route",
        }
        unknown_journey = await backend.journey(unknown)
        assert unknown_journey is not None
        assert unknown_journey.entries[-1].detail["error"] == (
            "flow tickets: to_canonical of desk: field priority from prio: "
            "no entry in the value map (value 'later')"
        )
        odd_journey = await backend.journey(odd)
        assert odd_journey is not None
        assert odd_journey.entries[-1].detail["error"] == (
            "flow tickets, target supplier (from_canonical of supplier): "
            "field note from note: required but missing (value None)"
        )


async def test_a_batch_that_outlasts_its_lease_gives_the_rest_back_untried(
    tmp_path: Path,
) -> None:
    """Mapping a batch took so long that the later messages' leases run out soon: they
    are given back untried (no attempt counted) instead of being mapped while another
    process may take them over, and the next claim maps them."""
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CONFIG))
    plan = Plan.from_config(load_config(tmp_path / "c.yaml"))
    backend = await SqliteBackend.open(tmp_path / "s.db")
    try:
        ids = [await send(backend, "copies", {"id": n}) for n in range(3)]
        reads = 0

        def slow_clock() -> float:  # as if mapping each message took 15 s
            nonlocal reads
            reads += 1
            return time.time() + 15 * (reads - 1)

        processor = Processor(backend, plan, lease=30.0, clock=slow_clock, idle_wait=0.05)
        task = asyncio.create_task(processor.run())
        for mid in ids[:2]:
            await settled(backend, mid)
        processor.stop()
        await task
        assert [await steps_of(backend, i) for i in ids] == [
            ["received", "routed", "mapped", "mapped"],
            ["received", "routed", "mapped", "mapped"],  # 15 s in: 15 s of 30 left
            ["received"],  # 30 s in: less than a third of its lease left
        ]
        again = await backend.claim(INTAKE, worker="p", limit=10, lease_seconds=30.0)
        assert [(d.message.id, d.message.attempt) for d in again] == [(ids[2], 1)]
    finally:
        await backend.close()


async def steps_of(backend: SqliteBackend, message_id: str) -> list[str]:
    journey = await backend.journey(message_id)
    assert journey is not None
    return [e.step.value for e in journey.entries]
