"""docs/crossdock.schema.json (the file editors point at) is what `crossdock schema` prints."""

from __future__ import annotations

import json
from pathlib import Path

from crossdock.config import config_json_schema

SCHEMA_FILE = Path(__file__).parents[3] / "docs" / "crossdock.schema.json"


def test_committed_schema_is_current() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == config_json_schema(), (
        "docs/crossdock.schema.json is stale: run `crossdock schema > docs/crossdock.schema.json`"
    )
