"""The model a configuration document is validated with, derived from the registry.

For each registered connector it derives an `Endpoint` subclass whose ``connector`` is
that name and whose ``settings`` is that connector's model, and a `Config` subclass
whose endpoints are the union of those, keyed by ``connector``. Validation errors then
point inside the settings, and the JSON Schema describes every connector.
"""

from __future__ import annotations

import functools
import operator
from typing import Annotated, Any, Literal

from pydantic import Field, create_model

from crossdock.config.connectors import ConnectorSettings, connector_settings
from crossdock.config.model import Config, Endpoint
from crossdock.config.types import Name


def document_model() -> type[Config]:
    """The `Config` subclass matching the connectors registered now."""
    return _build(tuple(connector_settings.items()))


@functools.lru_cache(maxsize=8)
def _build(connectors: tuple[tuple[str, type[ConnectorSettings]], ...]) -> type[Config]:
    """Build for one set of connectors (name, settings model), sorted by name."""
    variants = [_endpoint_variant(name, settings) for name, settings in connectors]
    endpoint: Any = functools.reduce(operator.or_, variants)
    if len(variants) > 1:
        endpoint = Annotated[endpoint, Field(discriminator="connector")]
    return create_model(
        "Config",
        __base__=Config,
        __module__=Config.__module__,
        endpoints=(
            dict[Name, endpoint],
            Field(default_factory=dict, description=Config.model_fields["endpoints"].description),
        ),
    )


def _endpoint_variant(name: str, settings: type[ConnectorSettings]) -> type[Endpoint]:
    """An `Endpoint` subclass for connector `name`."""
    tag: Any = Literal.__getitem__(name)  # Literal[name], with name known at run time
    title = "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
    return create_model(
        f"{title}Endpoint",
        __base__=Endpoint,
        __module__=Endpoint.__module__,
        __doc__=f"An endpoint of connector '{name}': {settings.__doc__ or ''}".strip(),
        connector=(
            tag,
            Field(description=Endpoint.model_fields["connector"].description),
        ),
        settings=(
            settings,
            Field(
                default_factory=dict,
                validate_default=True,
                description=f"Settings of the '{name}' connector.",
            ),
        ),
    )
