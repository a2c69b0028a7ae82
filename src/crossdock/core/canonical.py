"""The canonical model: the shapes every connector maps to and from (version 1).

N systems need N mappings, not N²: each connector maps its records to these shapes and
back. The models are pydantic v2 models, frozen (a record is a value) and strict about
their keys (an unknown key is an error, not silently dropped). Timestamps must carry a
time zone. ``Ticket.model_validate_json(t.model_dump_json()) == t`` for every ticket,
and dumping again gives the same bytes. docs/canonical.md documents every field.

Bodies travel as JSON (``model_dump(mode="json")``); mappings work on that JSON, and a
connector validates with these models where it wants the guarantees.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "CANONICAL_VERSION",
    "Attachment",
    "Comment",
    "ExternalRef",
    "Level",
    "Party",
    "PartyKind",
    "Priority",
    "Status",
    "Ticket",
]

CANONICAL_VERSION: Final = "1"
"""Version of the canonical model; a change that breaks a mapping bumps it."""

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
SystemName = Annotated[str, StringConstraints(min_length=1, max_length=63)]


class Status(StrEnum):
    """Where a ticket is in its life. Each system's statuses map onto these."""

    NEW = "new"  # reported, nobody has looked at it yet
    OPEN = "open"  # acknowledged and assigned, work not started
    IN_PROGRESS = "in_progress"  # someone is working on it
    PENDING = "pending"  # waiting for the requester (information, confirmation)
    ON_HOLD = "on_hold"  # waiting for a third party, a change or a date
    RESOLVED = "resolved"  # a solution is given; the requester may still reopen it
    CLOSED = "closed"  # finished; no more changes expected
    CANCELED = "canceled"  # withdrawn or a duplicate: closed without a solution


class Priority(StrEnum):
    """How soon a ticket must be handled, from both impact and urgency."""

    CRITICAL = "critical"  # business stopped for many users; handle now, around the clock
    HIGH = "high"  # serious degradation or one key user stopped; handle today
    MEDIUM = "medium"  # a real problem with a workaround; within days
    LOW = "low"  # minor inconvenience or a question; when time allows
    PLANNING = "planning"  # no fault: a request or improvement to plan


class Level(StrEnum):
    """Impact (how much of the business is affected) and urgency (how fast it hurts)."""

    HIGH = "high"  # many users or a critical service; damage grows by the hour
    MEDIUM = "medium"  # a group of users or a secondary service; damage within days
    LOW = "low"  # one user, a workaround exists; no deadline


class PartyKind(StrEnum):
    PERSON = "person"
    GROUP = "group"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExternalRef(_Model):
    """A record's identity in one system (the key of `Ticket.external` names the system)."""

    id: str = Field(description="The system's own id of the record (internal, stable).")
    key: str | None = Field(
        default=None, description="The number people use: INC0012345, SUP-12, #4711."
    )
    url: str | None = Field(default=None, description="Where a person opens the record.")


class Party(_Model):
    """A person or a group (team, queue, assignment group)."""

    kind: PartyKind = Field(default=PartyKind.PERSON, description="person or group.")
    name: str | None = Field(default=None, description="Display name.")
    emails: tuple[str, ...] = Field(default=(), description="E-mail addresses, main first.")
    external_ids: dict[SystemName, str] = Field(
        default_factory=dict, description="The party's id in each system, by system name."
    )


class Attachment(_Model):
    """A file attached to a ticket or comment; the bytes are kept outside the message."""

    name: str = Field(description="File name, as shown to people.")
    media_type: str = Field(
        default="application/octet-stream", description="MIME type, e.g. image/png."
    )
    size: int = Field(ge=0, description="Size in bytes.")
    sha256: Sha256 | None = Field(default=None, description="SHA-256 of the bytes, hex.")
    content_ref: str = Field(
        description="Where the hub reads the bytes: a URL of the source system or a "
        "blob reference of the hub."
    )


class Comment(_Model):
    """A comment (work note or reply) on a ticket."""

    external_ids: dict[SystemName, str] = Field(
        default_factory=dict, description="The comment's id in each system."
    )
    author: Party | None = Field(default=None, description="Who wrote it.")
    body_text: str = Field(default="", description="The body as plain text (always given).")
    body_html: str | None = Field(default=None, description="The body as HTML, if known.")
    body_markdown: str | None = Field(default=None, description="The body as Markdown, if known.")
    public: bool = Field(
        default=True, description="true: visible to the requester; false: internal note."
    )
    created: AwareDatetime | None = Field(default=None, description="When it was written.")
    attachments: tuple[Attachment, ...] = Field(default=(), description="Files of this comment.")


class Ticket(_Model):
    """An incident, request, problem or task, as every service desk knows it."""

    version: Literal["1"] = Field(default=CANONICAL_VERSION, description="Model version.")
    external: dict[SystemName, ExternalRef] = Field(
        default_factory=dict, description="The ticket's identity in each system, by name."
    )
    number: str | None = Field(default=None, description="The number shown to people.")
    title: str | None = Field(default=None, description="One-line summary.")
    description: str | None = Field(
        default=None, description="Plain text; paragraphs separated by one blank line."
    )
    type: str | None = Field(
        default=None, description="incident, service_request, problem, change or task."
    )
    status: Status | None = Field(default=None, description="See Status.")
    priority: Priority | None = Field(default=None, description="See Priority.")
    impact: Level | None = Field(default=None, description="See Level.")
    urgency: Level | None = Field(default=None, description="See Level.")
    category: str | None = Field(default=None, description="Category, as a path: network/vpn.")
    service: str | None = Field(default=None, description="The affected business service.")
    assignee: Party | None = Field(default=None, description="The person working on it.")
    group: Party | None = Field(default=None, description="The team responsible for it.")
    requester: Party | None = Field(default=None, description="Who asked for help.")
    reporter: Party | None = Field(default=None, description="Who entered it, if not them.")
    created: AwareDatetime | None = Field(default=None, description="When it was created.")
    updated: AwareDatetime | None = Field(default=None, description="Last change.")
    resolved: AwareDatetime | None = Field(default=None, description="When it was resolved.")
    due: AwareDatetime | None = Field(default=None, description="When it must be resolved.")
    labels: tuple[str, ...] = Field(default=(), description="Free tags, in order.")
    custom: dict[str, Any] = Field(
        default_factory=dict, description="Fields of no canonical meaning, by name (JSON)."
    )
    comments: tuple[Comment, ...] = Field(default=(), description="Oldest first.")
    attachments: tuple[Attachment, ...] = Field(default=(), description="Files of the ticket.")
