"""A walk through the hub from outside: webhooks in, mapped bodies at the target, the
journal and the operator CLI agree, SIGTERM stops it cleanly, and a message accepted just
before SIGTERM but not delivered is delivered after a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import orjson
from e2e_kit import (
    Arrival,
    HubProcess,
    Reply,
    Target,
    created,
    crossdock_cli,
    free_port,
    journey,
    post_hook,
    steps,
    wait_until,
    write_config,
)

TIERS = {"gold": "high", "silver": "medium", "bronze": "low"}  # bronze: unmapped -> default
GRACE = 1.0
PACE_MESSAGES = 40
PACE_SECONDS = 4.0  # without a wake-up on ack, each delivery waits for an idle poll


def _config(folder: Path, port: int, target: Target) -> Path:
    return write_config(
        folder,
        {
            "store": {"path": "data/hub.db"},
            "server": {"port": port},
            "endpoints": {
                "shop": {"connector": "webhook"},
                "erp": {
                    "connector": "http",
                    "settings": {
                        "base_url": target.url,
                        "path": "/orders/{key}",
                        "response_id": "data.id",
                        "concurrency": 2,
                    },
                },
            },
            "flows": {
                "orders": {
                    "source": "shop",
                    "key": "order.id",
                    "targets": [
                        {
                            "endpoint": "erp",
                            "mapping": {
                                "keep": ["order.id"],
                                "fields": {
                                    "reference": "order.number",
                                    "priority": {
                                        "from": "order.tier",
                                        "map": {"gold": "high", "silver": "medium"},
                                        "unmapped": "default",
                                        "default": "low",
                                    },
                                },
                            },
                        }
                    ],
                }
            },
        },
    )


def _order(key: str, number: int) -> dict[str, object]:
    tier = list(TIERS)[number % 3]
    return {"order": {"id": key, "number": f"{key}-{number}", "tier": tier, "extra": "x"}}


def _mapped(body: dict[str, object]) -> dict[str, object]:
    order = body["order"]
    assert isinstance(order, dict)
    return {
        "order": {"id": order["id"]},
        "reference": order["number"],
        "priority": TIERS[order["tier"]],
    }


async def _send(session: aiohttp.ClientSession, hub: HubProcess, body: object) -> str:
    status, answer = await post_hook(session, hub.url, "shop", body)
    assert status == 202, (status, answer)
    assert answer["duplicate"] is False
    [message_id] = answer["ids"]
    return str(message_id)


async def test_walkthrough(
    tmp_path: Path,
    target: Target,
    session: aiohttp.ClientSession,
    make_hub: Callable[..., HubProcess],
) -> None:
    port = free_port()
    config = _config(tmp_path, port, target)
    store = tmp_path / "data" / "hub.db"
    hub = make_hub(config, port, grace=GRACE)
    await hub.start_ready()

    # -- webhooks in, mapped bodies out -------------------------------------------------
    sent: dict[str, dict[str, object]] = {}  # id -> body
    for number in range(3):
        for key in ("A-1", "B-2", "C-3"):
            body = _order(key, number)
            sent[await _send(session, hub, body)] = body

    def arrived() -> dict[str, Arrival]:
        return {a.message_id: a for a in target.arrivals}

    await wait_until(lambda: set(sent) <= set(arrived()), timeout=30, what="all at the target")
    assert len(target.arrivals) == len(sent), "each message arrives once"
    for message_id, body in sent.items():
        arrival = arrived()[message_id]
        assert arrival.json() == _mapped(body)
        assert arrival.idempotency_key == f"{message_id}:erp"
        assert arrival.path == f"/orders/{body['order']['id']}"  # type: ignore[index]
    for key in ("A-1", "B-2", "C-3"):
        numbers = [a.json()["reference"] for a in target.arrivals if a.json()["order"]["id"] == key]
        assert numbers == [f"{key}-{n}" for n in range(3)], "per-key order"

    # -- the journal ----------------------------------------------------------------------
    for message_id in sent:
        found = await journey(store, message_id)
        assert steps(found) == ["received", "routed", "mapped", "delivered"], found.entries
        assert found.summary.status.value == "delivered"
        delivered = found.entries[-1]
        assert delivered.destination == "erp"
        assert delivered.attempt == 1
        assert delivered.detail["target_id"] == f"T{arrived()[message_id].index}"
        assert delivered.detail["status"] == 201
        mapped = found.entries[2]
        assert mapped.payload == _mapped(sent[message_id])

    # -- the operator CLI ------------------------------------------------------------------
    code, out, err = await crossdock_cli("messages", "list", "--store", str(store), "--json")
    assert code == 0, err
    listed = {m["id"]: m for m in orjson.loads(out)}
    assert set(listed) == set(sent)
    assert {m["status"] for m in listed.values()} == {"delivered"}
    some = next(iter(sent))
    code, out, err = await crossdock_cli("messages", "show", some, "--store", str(store), "--json")
    assert code == 0, err
    shown = orjson.loads(out)
    assert [e["step"] for e in shown["journal"]] == ["received", "routed", "mapped", "delivered"]
    assert shown["journal"][-1]["detail"]["target_id"] == f"T{arrived()[some].index}"

    # -- the pace of one key: each delivery goes as soon as the one before is done ----------
    gate = asyncio.Event()

    async def held(arrival: Arrival) -> Reply:
        await gate.wait()
        return created(arrival)

    target.respond = held
    burst = [await _send(session, hub, _order("G-7", n)) for n in range(PACE_MESSAGES)]
    await wait_until(lambda: arrived().get(burst[0]), timeout=30, what="the first of the burst")
    released = time.time()
    target.respond = created
    gate.set()
    await wait_until(lambda: set(burst) <= set(arrived()), timeout=60, what="the burst delivered")
    took = max(arrived()[m].at for m in burst) - released
    print(f"{PACE_MESSAGES} queued messages of one key delivered in {took:.2f}s")
    assert [arrived()[m].json()["reference"] for m in burst] == [
        f"G-7-{n}" for n in range(PACE_MESSAGES)
    ]
    assert took < PACE_SECONDS, "a lane waits for a poll between two deliveries"

    # -- SIGTERM with deliveries in flight, then a restart ----------------------------------
    gate = asyncio.Event()
    target.respond = held
    late = {await _send(session, hub, _order(key, 9)): key for key in ("D-4", "E-5")}
    await wait_until(
        lambda: set(late) <= {a.message_id for a in target.arrivals},
        timeout=30,
        what="the late messages in flight at the target",
    )
    just_before = await _send(session, hub, _order("F-6", 0))  # accepted, then SIGTERM
    code, seconds = await hub.stop()
    print(f"SIGTERM with 2 deliveries in flight: exit {code} after {seconds:.2f}s")
    assert code == 0, hub.log_tail()
    assert seconds < GRACE + 5, f"shutdown took {seconds:.1f}s with --grace {GRACE}"
    for message_id in late:
        found = await journey(store, message_id)
        assert found.summary.status.value == "queued", "not delivered before the restart"
    target.respond = created
    gate.set()

    await hub.start_ready()
    pending = [*late, just_before]

    async def all_delivered() -> bool:
        found = [await journey(store, m) for m in pending]
        return all(j.summary.status.value == "delivered" for j in found)

    await wait_until(all_delivered, timeout=30, what="the late messages delivered after restart")
    for message_id in late:
        at_target = [a for a in target.arrivals if a.message_id == message_id]
        assert len(at_target) == 2, "sent before SIGTERM (held), and again after the restart"
        assert at_target[0].idempotency_key == at_target[1].idempotency_key
        found = await journey(store, message_id)
        assert found.entries[-1].step.value == "delivered"
    code, seconds = await hub.stop()
    assert code == 0, hub.log_tail()
    assert seconds < 5, f"an idle hub took {seconds:.1f}s to stop"
