"""A correlation id from outside: taken from the webhook's header, kept through the queue,
sent on to the target in its own header, and found again with `crossdock messages list`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp
import orjson
from e2e_kit import (
    HubProcess,
    Target,
    crossdock_cli,
    feed_config,
    free_port,
    post_hook,
    wait_until,
)


async def test_a_correlation_id_travels_from_webhook_to_target(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]
) -> None:
    port = free_port()
    config = feed_config(
        tmp_path,
        port,
        target.url,
        feed={"correlation_header": "X-Request-ID"},
        sink={"correlation_header": "X-Correlation-ID"},
    )
    hub = make_hub(config, port)
    await hub.start_ready()
    async with aiohttp.ClientSession() as session:
        status, tied = await post_hook(
            session, hub.url, "feed", {"n": 1}, headers={"X-Request-ID": "INC0012345"}
        )
        assert status == 202, tied
        status, plain = await post_hook(session, hub.url, "feed", {"n": 2})
        assert status == 202, plain
    await wait_until(lambda: len(target.arrivals) == 2, timeout=20, what="both deliveries")
    sent = {a.json()["n"]: a.headers.get("X-Correlation-ID") for a in target.arrivals}
    assert sent == {1: "INC0012345", 2: plain["ids"][0]}
    code, out, err = await crossdock_cli(
        "messages", "list", "--correlation", "INC0012345", "--json", "--config", str(config)
    )
    assert code == 0, err
    assert [m["id"] for m in orjson.loads(out)] == tied["ids"]
    code, _ = await hub.stop()
    assert code == 0, hub.log_tail()
