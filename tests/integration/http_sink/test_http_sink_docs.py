"""docs/connectors.md says what the http sink does: its code example runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from http_target import Reply, Target, delivery

from crossdock.config.connectors import HttpSettings
from crossdock.connectors.http import HttpRejected, HttpSink

DOC = (Path(__file__).parents[3] / "docs" / "connectors.md").read_text(encoding="utf-8")


async def test_the_classify_override_example_works(target: Target) -> None:
    [code] = [b for b in re.findall(r"```python\n(.*?)```", DOC, re.DOTALL) if "classify" in b]
    namespace: dict[str, object] = {"__name__": "docs"}
    exec(compile(code, "connectors.md", "exec", dont_inherit=True), namespace)
    shop_sink = namespace["ShopSink"]
    assert isinstance(shop_sink, type)
    assert issubclass(shop_sink, HttpSink)
    async with shop_sink("shop", HttpSettings(base_url=target.url)) as sink:
        target.reply(Reply(409, b"order exists"))
        receipt = await sink.deliver(delivery({"order": {"id": 1}}))
        assert (receipt.status, receipt.detail) == (409, {"note": "already there"})
        target.reply(Reply(400, b"bad order"))
        with pytest.raises(HttpRejected):
            await sink.deliver(delivery({"order": {"id": 1}}))


def test_the_encoding_example_is_right() -> None:
    from urllib.parse import quote

    assert quote("../../admin?x=1#", safe="") == "..%2F..%2Fadmin%3Fx%3D1%23"
    assert "`../../admin?x=1#` is sent as `..%2F..%2Fadmin%3Fx%3D1%23`" in DOC
