"""The crossdock error tree.

```
CrossdockError
├── ConfigError              the configuration is invalid; raised at load time only
├── StoreError               the store could not do what was asked
│   ├── StoreUnavailable     transient: disk full, locked, I/O error -> answer 503, retry later
│   └── LeaseLost            the caller no longer holds the lease of that delivery
├── NotFound                 no message / delivery with that id
└── DeliveryError            a sink could not apply a message
    ├── TransientError       retry with back-off (network, timeout, 5xx, 429)
    ├── PermanentError       park at once (validation, other 4xx, mapping failure)
    └── AuthError            401/403: pause the endpoint and alert; attempts are not spent
```
Programming bugs are not in this tree and are never swallowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class CrossdockError(Exception):
    """Root of every error crossdock raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in a configuration: where it is and what is wrong."""

    path: str  # dotted key path, e.g. "flows.orders.targets[1].retry.max_attempts"
    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f" ({self.file}"
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ")"
        prefix = f"{self.path}: " if self.path else ""
        return f"{prefix}{self.message}{where}"


class ConfigError(CrossdockError):
    """The configuration is invalid. Carries every problem found, not only the first."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class StoreError(CrossdockError):
    """The store could not complete an operation."""


class StoreUnavailable(StoreError):
    """Transient store failure (disk full, database locked, I/O error): try again later.

    Nothing of the failed operation was committed.
    """


class LeaseLost(StoreError):
    """The delivery's lease expired and was taken over, or the delivery was already settled."""


class NotFound(CrossdockError):
    """No message or delivery with the given id."""


class DeliveryError(CrossdockError):
    """A sink could not apply a message to its system."""

    def facts(self) -> dict[str, Any]:
        """What the journal records besides the message, e.g. the target's status and
        answer (JSON values, secrets already masked); none by default."""
        return {}


class TransientError(DeliveryError):
    """Worth retrying later; ``retry_after`` (seconds) is the target's own hint, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Retrying will not help; the message is parked with this explanation."""


class AuthError(DeliveryError):
    """The target refused our credentials: pause the endpoint, do not spend attempts."""
