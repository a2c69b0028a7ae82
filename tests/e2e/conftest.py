"""Fixtures of the end-to-end tests: targets, a client session, hub processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from e2e_kit import HubProcess, Target


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    server = Target()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def make_hub(request: pytest.FixtureRequest) -> Iterator[Callable[..., HubProcess]]:
    """``make_hub(config, port, workers=1, grace=None)``: a `HubProcess` (not started);
    whatever is still running at the end is killed, and its log printed if the test
    failed."""
    hubs: list[HubProcess] = []

    def make(config: Path, port: int, **options: object) -> HubProcess:
        hub = HubProcess(config, port, **options)  # type: ignore[arg-type]
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.cleanup()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for hub in hubs:
            print(f"--- hub log {hub.log} ---\n{hub.log_tail(80)}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
