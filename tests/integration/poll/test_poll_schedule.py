"""When polls happen (interval, cron), which endpoints get a poller, and what settings
are refused."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import MakePoller
from poll_kit import ENV, eventually, make_config, write_config
from service_desk import Desk

from crossdock.config import load_config
from crossdock.config.connectors import PollSettings
from crossdock.core.cron import CronSchedule
from crossdock.core.errors import ConfigError
from crossdock.runtime.poller import Schedule, pollers_for

MINUTE_2025 = datetime(2025, 6, 2, 10, 0, tzinfo=UTC).timestamp()  # a Monday, 10:00 UTC


def test_an_interval_schedule_polls_at_once_then_start_to_start() -> None:
    schedule = Schedule.of(PollSettings(url="http://x", interval="30s"))  # type: ignore[arg-type]
    assert schedule.first(1000.0) == 1000.0
    assert schedule.after(started=1000.0, now=1004.0) == 1030.0
    assert schedule.after(started=1000.0, now=1045.0) == 1045.0  # a long poll: next at once


def test_the_default_schedule_is_every_minute() -> None:
    schedule = Schedule.of(PollSettings(url="http://x"))
    assert schedule.after(started=0.0, now=1.0) == 60.0


def test_a_cron_schedule_polls_at_matching_minutes_in_utc() -> None:
    schedule = Schedule.of(PollSettings(url="http://x", cron="*/20 10 * * MON"))
    assert schedule.first(MINUTE_2025 - 0.5) == MINUTE_2025
    assert schedule.first(MINUTE_2025) == MINUTE_2025 + 20 * 60
    assert schedule.after(started=MINUTE_2025, now=MINUTE_2025 + 5) == MINUTE_2025 + 20 * 60
    assert schedule.after(started=0, now=MINUTE_2025 + 41 * 60) == MINUTE_2025 + 7 * 86400


async def test_run_polls_every_interval(desk: Desk, make_poller: MakePoller) -> None:
    poller = make_poller(interval="100ms")
    started = time.monotonic()
    task = asyncio.create_task(poller.run())
    await eventually(lambda: len(desk.requests) >= 4, what="four polls")
    poller.stop()
    await asyncio.wait_for(task, 5)
    assert desk.requests[0].at - started < 0.1  # the first at once
    gaps = [b.at - a.at for a, b in zip(desk.requests, desk.requests[1:], strict=False)]
    assert all(0.07 <= gap < 0.4 for gap in gaps[:3]), gaps  # start to start, ±latency


async def test_run_polls_at_the_next_cron_minute(desk: Desk, make_poller: MakePoller) -> None:
    offset = MINUTE_2025 - 0.3 - time.time()  # the clock says: 0.3 s before 10:00 on a Monday

    def clock() -> float:
        return time.time() + offset

    poller = make_poller(cron="0 10 * * 1", options={"clock": clock})
    started = time.monotonic()
    task = asyncio.create_task(poller.run())
    await eventually(lambda: len(desk.requests) >= 1, what="the 10:00 poll")
    await asyncio.sleep(0.5)  # the next one is a week away
    poller.stop()
    await asyncio.wait_for(task, 5)
    assert len(desk.requests) == 1
    assert 0.25 <= desk.requests[0].at - started < 0.8


def test_pollers_for_lists_poll_endpoints_that_feed_a_flow(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"url": "http://127.0.0.1:1/tickets"})
    text = path.read_text()
    extra = (
        ',"idle":{"connector":"poll","settings":{"url":"http://127.0.0.1:1/x"}}'
        ',"hook":{"connector":"webhook"}'
        ',"aaa":{"connector":"poll","settings":{"url":"http://127.0.0.1:1/y"}}'
    )
    text = text.replace('"endpoints":{', '"endpoints":{' + extra[1:] + ",", 1)
    text = text.replace('"source":"desk"', '"sources":["desk","hook","aaa"]', 1)
    path.write_text(text)
    assert pollers_for(load_config(path, env=ENV)) == ["aaa", "desk"]


def test_a_poller_needs_a_flow_to_feed(tmp_path: Path) -> None:
    from crossdock.bus import SqliteBackend  # not opened: the check comes first
    from crossdock.runtime.poller import Poller

    config = make_config(tmp_path, {"url": "http://127.0.0.1:1/x"})
    bare = config.model_copy(update={"flows": {}})
    with pytest.raises(ValueError, match="feeds no flow"):
        Poller(SqliteBackend.__new__(SqliteBackend), bare, "desk")
    with pytest.raises(ValueError, match="not a poll endpoint"):
        Poller(SqliteBackend.__new__(SqliteBackend), config, "erp")


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"interval": "5m", "cron": "* * * * *"}, "give interval or cron, not both"),
        ({"cron": "0 0 30 2 *"}, "day of month: no chosen month has that many days"),
        ({"cron": "every minute"}, "5 fields"),
        ({"url": "ftp://desk/x"}, "http:// or https://"),
        ({"url": "https://u:p@desk/x"}, "must not hold credentials"),
        ({"url": "https://desk/x#top"}, "must not have a fragment"),
        ({"interval": "0s"}, "positive duration"),
        ({"max_pages": 0}, "max_pages: must be >= 1"),
        ({"colour": "red"}, "colour"),
        ({"pagination": {"type": "pages"}}, "pagination"),
        ({"pagination": {"type": "page", "size": 50}}, "size and size_param go together"),
        ({"pagination": {"type": "cursor_token"}}, "token"),
        (
            {"pagination": {"type": "offset"}, "cursor": {"param": "offset", "field": "u"}},
            "cursor.param offset is also a pagination parameter",
        ),
        ({"cursor": {"param": "since", "field": "a..b"}}, "field"),
        ({"cursor": {"param": "since", "field": "u", "initial": True}}, "in quotes"),
        ({"headers": {"Authorization": "Bearer x"}}, "use auth for credentials"),
        (
            {
                "headers": {"X-Key": "1"},
                "auth": {"type": "api_key", "header": "x-key", "value": "${env:DESK_KEY}"},
            },
            "header x-key is set by auth",
        ),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], problem: str, tmp_path: Path) -> None:
    settings = {"url": "http://127.0.0.1:1/tickets", **settings}
    with pytest.raises(ConfigError) as raised:
        make_config(tmp_path, settings)
    assert problem in str(raised.value)
    assert "endpoints.desk.settings" in str(raised.value)


def test_an_unquoted_yaml_timestamp_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "crossdock.yaml"
    path.write_text(
        "version: 1\nendpoints:\n  desk:\n    connector: poll\n    settings:\n"
        "      url: http://127.0.0.1:1/t\n      cursor:\n        param: since\n"
        "        field: updated_at\n        initial: 2025-01-01T00:00:00Z\n"
    )
    with pytest.raises(ConfigError, match="write initial in quotes"):
        load_config(path)


def test_cron_accepts_what_the_matcher_accepts() -> None:
    settings = PollSettings(url="http://x", cron="0 6-18/2 * JAN-MAR mon-fri")
    assert settings.cron is not None
    assert CronSchedule.parse(settings.cron).hours == frozenset(range(6, 19, 2))
