"""The operator commands, run through the real CLI on a real store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossdock.bus import INTAKE, Event, Forward, SqliteBackend, Step
from crossdock.cli import app
from crossdock.core.envelope import Message

runner = CliRunner()


async def _fill(path: Path) -> dict[str, str]:
    """Three orders: A delivered, B parked (holding key 7), C waiting behind B."""
    backend = await SqliteBackend.open(path, mask=["password"])
    ids: dict[str, str] = {}
    try:
        for name, key in (("A", "9"), ("B", "7"), ("C", "7")):
            body = {"order": name, "password": "hunter2"}
            msg = Message.new(
                flow="orders",
                source="shop",
                event_type="order.created",
                body=body,
                key=key,
                correlation_id="INC-7" if key == "7" else None,
            )
            ids[name] = msg.id
            await backend.enqueue(msg)
        while batch := await backend.claim(INTAKE, worker="t", limit=10):
            for d in batch:
                await backend.ack(d, events=[Event(Step.ROUTED)], forward=[Forward("erp")])
        for d in await backend.claim("erp", worker="t", limit=10):
            if d.message.id == ids["B"]:
                await backend.park(d, events=[Event(Step.PARKED, {"error": "422 bad customer"})])
            else:
                await backend.ack(d, events=[Event(Step.DELIVERED, {"target_id": "E-1"})])
    finally:
        await backend.close()
    return ids


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "store.db"
    return path, asyncio.run(_fill(path))


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_status_shows_depth_and_parked_per_destination(store: tuple[Path, dict[str, str]]) -> None:
    path, _ = store
    code, out, _ = invoke("status", "--store", str(path), "--json")
    assert code == 0
    rows = {r["destination"]: r for r in json.loads(out)}
    assert rows["erp"]["parked"] == 1
    assert rows["erp"]["depth"] == 1  # C waits behind the parked B
    code, out, _ = invoke("status", "--store", str(path))
    assert code == 0
    assert "erp" in out
    assert "orders" in out


def test_messages_list_filters(store: tuple[Path, dict[str, str]]) -> None:
    path, ids = store
    code, out, _ = invoke("messages", "list", "--store", str(path), "--status", "parked", "--json")
    assert code == 0
    assert [m["id"] for m in json.loads(out)] == [ids["B"]]
    code, out, _ = invoke("messages", "list", "--store", str(path), "--key", "7", "--json")
    assert {m["id"] for m in json.loads(out)} == {ids["B"], ids["C"]}
    code, out, _ = invoke(
        "messages", "list", "--store", str(path), "--correlation", "INC-7", "--json"
    )
    assert code == 0
    assert {m["id"] for m in json.loads(out)} == {ids["B"], ids["C"]}
    assert {m["correlation_id"] for m in json.loads(out)} == {"INC-7"}
    code, out, _ = invoke("messages", "list", "--store", str(path), "--since", "1h")
    assert code == 0
    assert ids["A"] in out


def test_messages_show_is_the_whole_journey_masked(store: tuple[Path, dict[str, str]]) -> None:
    path, ids = store
    code, out, _ = invoke("messages", "show", ids["B"], "--store", str(path), "--json")
    assert code == 0
    journey = json.loads(out)
    assert [e["step"] for e in journey["journal"]] == ["received", "routed", "parked"]
    assert journey["journal"][-1]["detail"] == {"error": "422 bad customer"}
    code, out, _ = invoke("messages", "show", ids["B"], "--store", str(path))
    assert "422 bad customer" in out
    assert "parked" in out
    assert journey["body"]["password"] == "***"  # the store remembers the journal mask
    assert "hunter2" not in out


def test_replay_then_discard(store: tuple[Path, dict[str, str]]) -> None:
    path, ids = store
    code, out, _ = invoke("replay", "--flow", "orders", "--store", str(path), "--json")
    assert (code, json.loads(out)) == (0, {"replayed": 1})
    code, out, _ = invoke("replay", ids["B"], "--store", str(path))
    assert code == 0
    assert "nothing replayed" in out
    code, out, _ = invoke("discard", "--endpoint", "erp", "--reason", "x", "--store", str(path))
    assert code == 0
    assert "nothing discarded" in out


def test_discard_records_the_reason(store: tuple[Path, dict[str, str]]) -> None:
    path, ids = store
    code, out, _ = invoke("discard", ids["B"], "--reason", "cancelled", "--store", str(path))
    assert (code, out.strip()) == (0, "discarded 1 message")
    _, out, _ = invoke("messages", "show", ids["B"], "--store", str(path), "--json")
    journey = json.loads(out)
    assert journey["status"] == "discarded"
    assert journey["journal"][-1]["detail"] == {"reason": "cancelled"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["replay"], "give a MESSAGE_ID, --flow or --endpoint"),
        (["messages", "list", "--since", "yesterday"], "neither a span"),
        (["messages", "show", "nope"], "no message with id nope"),
        (["status", "--store", "/nonexistent/x.db"], "no store at /nonexistent/x.db"),
        (["status", "--config", "/nonexistent/c.yaml"], "no configuration at /nonexistent/c.yaml"),
        (["discard", "--flow", "orders", "--reason", " "], "must not be empty"),
    ],
)
def test_wrong_usage_gets_a_message_not_a_traceback(
    store: tuple[Path, dict[str, str]], args: list[str], needle: str
) -> None:
    path, _ = store
    if "--store" not in args and "--config" not in args:
        args = [*args, "--store", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert needle in " ".join((result.stdout + result.stderr).split())
    assert "Traceback" not in result.stdout + result.stderr
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_store_found_from_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "crossdock.yaml"
    config.write_text(
        "version: 1\nstore:\n  path: data/hub.db\nendpoints:\n  shop:\n    connector: webhook\n"
        "  erp:\n    connector: http\n    settings:\n      base_url: http://127.0.0.1:9\n"
        "flows:\n  orders:\n    source: shop\n    targets:\n      - endpoint: erp\n"
    )
    (tmp_path / "data").mkdir()
    asyncio.run(_fill(tmp_path / "data" / "hub.db"))
    code, out, _ = invoke("status", "--config", str(config), "--json")
    assert code == 0
    assert {r["destination"] for r in json.loads(out)} == {"erp"}


def test_replay_and_discard_name_an_unknown_flow_or_endpoint(
    store: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, _ = store
    config = tmp_path / "crossdock.yaml"
    config.write_text(
        f"version: 1\nstore: {{path: {path}}}\n"
        "endpoints:\n  shop: {connector: webhook}\n"
        "  erp: {connector: http, settings: {base_url: 'http://127.0.0.1:9'}}\n"
        "flows:\n  orders: {source: shop, targets: [{endpoint: erp}]}\n"
    )
    code, _, err = invoke("replay", "--flow", "nosuch", "-c", str(config))
    assert code == 2
    assert "unknown flow 'nosuch'; defined: orders" in err
    code, _, err = invoke("discard", "--endpoint", "crm", "--reason", "x", "-c", str(config))
    assert code == 2
    assert "unknown endpoint 'crm'; defined: erp, shop" in err
    code, out, _ = invoke("replay", "--flow", "orders", "-c", str(config), "--json")
    assert (code, json.loads(out)) == (0, {"replayed": 1})


def test_a_journey_shows_the_next_try_as_a_time(tmp_path: Path) -> None:
    path = tmp_path / "store.db"

    async def fill() -> str:
        backend = await SqliteBackend.open(path)
        try:
            msg = Message.new(flow="orders", source="shop", event_type="o", body={}, key="k")
            await backend.enqueue(msg)
            [d] = await backend.claim(INTAKE, worker="t")
            event = Event(Step.FAILED, {"error": "503", "next_try": 1_795_470_544.62})
            await backend.retry_at(d, 1_795_470_544.62, events=[event])
            return msg.id
        finally:
            await backend.close()

    message_id = asyncio.run(fill())
    code, out, _ = invoke("messages", "show", message_id, "--store", str(path))
    assert code == 0
    assert "next_try=2026-11-23T21:49:04.620Z" in out  # 1795470544.62 as a UTC time
    assert "1795470544" not in out
