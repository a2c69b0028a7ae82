"""``crossdock map replay``: messages recorded by the processor, run through a new
configuration; what each target would receive differently."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from crossdock.bus import INTAKE, SqliteBackend
from crossdock.cli import app
from crossdock.config import load_config
from crossdock.core.envelope import Message
from crossdock.runtime.plan import Plan
from crossdock.runtime.processor import Processor

runner = CliRunner()

OLD = """
version: 1
store: {path: store.db}
endpoints:
  desk: {connector: webhook}
  net: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
  audit: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
flows:
  tickets:
    source: desk
    when: [{path: state, not_equals: draft}]
    targets:
      - endpoint: net
        mapping:
          fields:
            ref: id
            prio: {from: priority, map: {"1": critical, "2": high, "3": low}}
"""

NEW = """
version: 1
store: {path: store.db}
endpoints:
  desk: {connector: webhook}
  net: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
  audit: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
flows:
  tickets:
    source: desk
    targets:
      - endpoint: net
        mapping:
          fields:
            ref: id
            prio: {from: priority, map: {"1": critical, "2": high, "3": medium}}
      - endpoint: audit
        when: [{path: priority, equals: 1}]
        mapping: {keep: [id]}
"""

BODIES = [
    {"id": 1, "state": "new", "priority": 1},  # gains audit
    {"id": 2, "state": "new", "priority": 2},  # unchanged
    {"id": 3, "state": "new", "priority": 3},  # prio low -> medium
    {"id": 4, "state": "draft", "priority": 2},  # filtered -> mapped
    {"id": 5, "state": "new", "priority": 3},  # prio low -> medium
]


async def record(config: Path, store: Path) -> list[str]:
    plan = Plan.from_config(load_config(config))
    backend = await SqliteBackend.open(store)
    processor = Processor(backend, plan, idle_wait=0.05)
    task = asyncio.create_task(processor.run())
    ids = []
    try:
        for body in BODIES:
            msg = Message.new(
                flow="tickets", source="desk", event_type="t", body=body, key=str(body["id"])
            )
            await backend.enqueue(msg)
            ids.append(msg.id)
        for _ in range(250):
            if not any(s.destination == INTAKE and s.depth for s in await backend.stats()):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("not processed in time")
    finally:
        processor.stop()
        await task
        await backend.close()
    return ids


def test_replay_shows_what_would_change(tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(textwrap.dedent(OLD))
    new.write_text(textwrap.dedent(NEW))
    ids = asyncio.run(record(old, tmp_path / "store.db"))

    result = runner.invoke(app, ["map", "replay", "--flow", "tickets", "--config", str(new)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "5 messages replayed: 4 would change, 1 would not" in out
    assert f"{ids[2]}" in out and 'prio: "low" → "medium"' in out
    assert "target audit would now receive it" in out
    assert "was filtered (flow.when: state not_equals 'draft')" in out
    assert "now mapped for net" in out
    assert "net: prio: 2 messages" in out
    assert "audit: 1 message" in out
    assert "filtered → mapped: 1 message" in out
    assert ids[1] not in out  # unchanged messages are not listed

    as_json = runner.invoke(
        app, ["map", "replay", "--flow", "tickets", "--config", str(new), "--json"]
    )
    data = json.loads(as_json.output)
    assert data["summary"]["examined"] == 5
    assert data["summary"]["changed"] == 4
    assert data["summary"]["fields"] == {"net: prio": 2}
    assert [m["message_id"] for m in data["messages"]] == [ids[0], ids[2], ids[3], ids[4]]
    assert data["messages"][1]["changes"]["net"] == [
        {"path": "prio", "kind": "changed", "before": "low", "after": "medium"}
    ]


def test_replay_against_the_same_configuration_changes_nothing(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(textwrap.dedent(OLD))
    asyncio.run(record(old, tmp_path / "store.db"))
    result = runner.invoke(app, ["map", "replay", "--flow", "tickets", "-c", str(old)])
    assert result.exit_code == 0, result.output
    assert "5 messages replayed: 0 would change, 5 would not" in result.output


def test_replay_names_new_mapping_failures(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(textwrap.dedent(OLD))
    asyncio.run(record(old, tmp_path / "store.db"))
    strict = tmp_path / "strict.yaml"
    strict.write_text(textwrap.dedent(OLD).replace('"3": low', '"9": none'))
    result = runner.invoke(
        app, ["map", "replay", "--flow", "tickets", "-c", str(strict), "--show", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "2 would be parked by a mapping error" in result.output
    assert "mapped → failed: 2 messages" in result.output
    assert "no entry in the value map (value 3)" in result.output
    assert "(differences of 1 shown)" in result.output


def test_replay_of_an_unknown_flow_or_empty_window(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(textwrap.dedent(OLD))
    asyncio.run(record(old, tmp_path / "store.db"))
    unknown = runner.invoke(app, ["map", "replay", "--flow", "nope", "-c", str(old)])
    assert unknown.exit_code == 1
    assert "no flow 'nope'" in unknown.output
    future = runner.invoke(
        app,
        ["map", "replay", "--flow", "tickets", "-c", str(old), "--since", "2999-01-01T00:00:00"],
    )
    assert future.exit_code == 0
    assert "no recorded messages of this flow in that time" in future.output
    bad = runner.invoke(app, ["map", "replay", "--flow", "tickets", "-c", str(old), "--since", "x"])
    assert bad.exit_code == 2
