"""Connectors: the code for each kind of system, and how the runtime finds their sinks.

    sink = create_sink("erp", endpoint.connector, endpoint.settings)
    await sink.open()        # then deliver(...) concurrently; close() at shutdown

`sink_factories` maps a connector name to the function that builds its `Sink` from an
endpoint's name and validated settings. A connector package adds its own entry (next to
registering its settings model with ``register_connector_settings``).
"""

from __future__ import annotations

from collections.abc import Callable

from crossdock.config.connectors import ConnectorSettings, HttpSettings
from crossdock.connectors.base import Receipt, Sink
from crossdock.connectors.http import HttpSink
from crossdock.core.errors import ConfigError, ConfigProblem

__all__ = ["Receipt", "Sink", "SinkFactory", "create_sink", "sink_factories"]

SinkFactory = Callable[[str, ConnectorSettings], Sink]
"""Builds the sink of one endpoint from its name and settings."""


def _http_sink(endpoint_name: str, settings: ConnectorSettings) -> Sink:
    if not isinstance(settings, HttpSettings):
        raise TypeError(f"http sink needs HttpSettings, got {type(settings).__name__}")
    return HttpSink(endpoint_name, settings)


sink_factories: dict[str, SinkFactory] = {"http": _http_sink}
"""Connector name -> sink factory, for every connector that can deliver."""


def create_sink(endpoint_name: str, connector: str, settings: ConnectorSettings) -> Sink:
    """The (unopened) sink of endpoint ``endpoint_name``.

    Raises ConfigError (at ``endpoints.<name>.connector``) when the connector cannot
    deliver, e.g. a flow targets a ``webhook`` endpoint, which only receives.
    """
    factory = sink_factories.get(connector)
    if factory is None:
        able = ", ".join(sorted(sink_factories)) or "none"
        problem = ConfigProblem(
            path=f"endpoints.{endpoint_name}.connector",
            message=f"connector {connector!r} cannot deliver messages (it has no sink); "
            f"connectors that can: {able}",
        )
        raise ConfigError([problem])
    return factory(endpoint_name, settings)
