"""One hub per store: a second ``crossdock run`` on a store that a running hub uses (with
its workers) is refused at start, naming the store and that hub's pid; commands that only
read still work beside the hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from e2e_kit import HubProcess, Target, crossdock_cli, feed_config, free_port


def _errors(hub: HubProcess) -> list[str]:
    return [line for line in hub.log_tail(200).splitlines() if line.startswith("error:")]


async def test_a_second_hub_on_a_store_in_use_is_refused(
    tmp_path: Path, target: Target, make_hub: Callable[..., HubProcess]
) -> None:
    """Same store, another port: refused at start, naming the store and the hub that holds
    it; commands that read still work meanwhile; once the first stops, the store is free."""
    port = free_port()
    first = make_hub(feed_config(tmp_path / "first", port, target.url), port, workers=2)
    await first.start_ready()
    store = tmp_path / "first" / "hub.db"
    for workers in (1, 2):
        port = free_port()
        config = feed_config(tmp_path / f"second{workers}", port, target.url)
        config.write_text(config.read_text().replace("path: hub.db", f"path: {store}"))
        second = make_hub(config, port, workers=workers)
        second.start()
        code = await second.wait_exit(30)
        assert code == 1, second.log_tail()
        assert _errors(second) == [
            f"error: the store {store} is in use by another hub (pid {first.pid}): stop that "
            "one first, or give this one a store.path of its own"
        ], second.log_tail()

    code, out, err = await crossdock_cli("status", "--store", str(store))
    assert (code, out.strip()) == (0, "no messages waiting: every queue is empty"), err
    code, listed, err = await crossdock_cli("messages", "list", "--store", str(store))
    assert (code, listed.strip()) == (0, "no messages match"), err

    code, _ = await first.stop()
    assert code == 0, first.log_tail()
    await second.start_ready()
    code, _ = await second.stop()
    assert code == 0, second.log_tail()
