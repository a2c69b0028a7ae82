"""Custom transforms from an installed package's ``crossdock.transforms`` entry point,
used by a configuration, through the real command line in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN = """
from pydantic import BaseModel

from crossdock.core.transforms import TransformError, register_transform


class ShoutArgs(BaseModel):
    marks: int = 1


@register_transform("shout", ShoutArgs, shorthand="marks")
def shout(value, args, context):
    \"\"\"Upper case, with exclamation marks.\"\"\"
    if not isinstance(value, str):
        raise TransformError("not text")
    return value.upper() + "!" * args.marks
"""

CONFIG = """
version: 1
endpoints:
  desk: {connector: webhook}
  out: {connector: http, settings: {base_url: "http://127.0.0.1:9"}}
flows:
  f:
    source: desk
    targets:
      - endpoint: out
        mapping:
          fields:
            title: {from: subject, transform: [{shout: 3}]}
"""


def install(site: Path, module: str, code: str) -> None:
    """A distribution as pip would leave it: the module and a dist-info with its entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[crossdock.transforms]\n{module} = {module}\n")


def crossdock(site: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "crossdock", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_a_plugin_transform_is_usable_in_mappings(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install(site, "acme_shout", PLUGIN)
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CONFIG))
    result = crossdock(
        site,
        "map",
        "test",
        "f",
        "-c",
        str(tmp_path / "c.yaml"),
        "-i",
        "-",
        "--json",
        stdin=json.dumps({"subject": "vpn down"}),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["targets"][0]["output"] == {"title": "VPN DOWN!!!"}


def test_without_the_plugin_the_transform_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CONFIG))
    result = crossdock(tmp_path, "validate", str(tmp_path / "c.yaml"))
    assert result.returncode == 1
    assert "unknown transform 'shout'" in result.stderr


def test_a_broken_plugin_is_a_clear_configuration_error(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install(site, "acme_broken", "raise RuntimeError('no licence file')\n")
    (tmp_path / "c.yaml").write_text(textwrap.dedent(CONFIG))
    result = crossdock(site, "validate", str(tmp_path / "c.yaml"))
    assert result.returncode == 1
    assert (
        "transform plugin 'acme_broken' (acme_broken) failed to load: RuntimeError: no licence file"
    ) in result.stderr
