"""Custom transforms from installed packages, found through entry points.

A package adds transforms by registering them (`register_transform`) in a module it names
under the ``crossdock.transforms`` entry-point group, e.g. in its ``pyproject.toml``:

    [project.entry-points."crossdock.transforms"]
    acme = "acme_crossdock.transforms"

`load_transform_plugins` imports every such module once, before a configuration is
loaded, so its transforms can be named in mappings. Configuration itself never holds code.
"""

from __future__ import annotations

from importlib.metadata import entry_points

GROUP = "crossdock.transforms"

_loaded: dict[str, str | None] = {}  # entry point name -> None, or why it failed


def load_transform_plugins() -> list[str]:
    """Import every transform plugin not imported yet; the problems, one line each, of
    those that failed (the same problems on every call)."""
    for point in entry_points(group=GROUP):
        if point.name in _loaded:
            continue
        try:
            point.load()
        except Exception as exc:  # any failure of foreign code is reported, not raised
            _loaded[point.name] = (
                f"transform plugin {point.name!r} ({point.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            )
        else:
            _loaded[point.name] = None
    return [problem for problem in _loaded.values() if problem is not None]
