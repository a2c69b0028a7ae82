"""The mapping of ticket.yaml written by hand, as a developer would write the glue.

Gives the same output as the compiled mapping for every ticket the benchmark generates
(run.py checks that before it times anything): same fields left out for absent values,
same defaults, same value-map policies, same date conversions with `zoneinfo`. It
raises ValueError where the mapping would park the message, but does not repeat the
mapping's size bounds or its error messages.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

INSTANCE_TZ = ZoneInfo("Europe/Amsterdam")
SUPPLIER_TZ = ZoneInfo("America/New_York")

PRIORITIES = {
    "1 - Critical": "P1",
    "2 - High": "P2",
    "3 - Moderate": "P3",
    "4 - Low": "P4",
    "5 - Planning": "P5",
}
SEVERITIES = {"1": "major", "2": "significant", "3": "minor"}
URGENCIES = {"1": "immediate", "2": "soon", "3": "normal"}
STATUSES = {
    "new": "OPEN",
    "in progress": "IN_PROGRESS",
    "on hold": "WAITING",
    "resolved": "RESOLVED",
    "closed": "CLOSED",
    "canceled": "CANCELLED",
}
CHANNELS = {"email": "EMAIL", "phone": "PHONE", "self-service": "PORTAL", "walk-in": "DESK"}
QUEUES = {
    "Network Operations": "NET-L2",
    "Service Desk": "L1-SERVICEDESK",
    "Workplace": "WPS-L2",
    "Database Team": "DBA-L3",
}
COUNTRIES = {
    "NL": "Netherlands",
    "BE": "Belgium",
    "DE": "Germany",
    "FR": "France",
    "GB": "United Kingdom",
}
ESCALATED = ("1 - Critical", "2 - High")
TRUE_WORDS = ("true", "yes", "y", "on", "1")
FALSE_WORDS = ("false", "no", "n", "off", "0")


def map_ticket(ticket: dict[str, Any]) -> dict[str, Any]:
    """The supplier's ticket for a ServiceNow-like incident."""
    caller = ticket.get("caller_id") or {}
    ci = ticket.get("cmdb_ci") or {}
    group = ticket.get("assignment_group") or {}
    location = ticket.get("location") or {}
    assigned = ticket.get("assigned_to") or {}

    number = ticket.get("number")
    title = ticket.get("short_description")
    if number is None or title is None:
        raise ValueError("number and short_description are required")
    sys_id = ticket.get("sys_id")
    out: dict[str, Any] = {
        "external_ref": number,
        "source_system": "servicenow-prod",
        "contract": "ACME-MS-2024",
        "link": f"https://example.service-now.com/incident.do?sys_id={_text(sys_id)}",
        "title": _truncate(title.strip(), 80, "…"),
        "subject": f"[{number}] {_text(ci.get('display_value'))}: {title}",
        "description": (ticket.get("description") or "").strip(),
        "severity": SEVERITIES.get(ticket.get("impact") or "", "minor"),
        "channel": CHANNELS.get((ticket.get("contact_type") or "").lower(), "OTHER"),
    }
    if sys_id is not None:
        out["external_id"] = sys_id
    notes = ticket.get("close_notes")
    if notes is not None:
        out["resolution"] = _truncate(notes.strip(), 500, " [...]")

    priority = ticket.get("priority")
    if priority is not None:
        out["priority"] = PRIORITIES[priority]
        if priority in ESCALATED:
            out["escalated"] = True
    urgency = ticket.get("urgency")
    if urgency is not None:
        out["urgency"] = URGENCIES.get(urgency, urgency)
    state = ticket.get("state")
    if state is not None:
        out["status"] = STATUSES[state.strip().lower()]
    category = ticket.get("category")
    out["category"] = "other" if category is None else category.strip().lower()
    subcategory = ticket.get("subcategory")
    if subcategory is not None:
        out["subcategory"] = subcategory.lower()
    if ci.get("display_value") is not None:
        out["configuration_item"] = ci["display_value"]

    reporter: dict[str, Any] = {"vip": _bool(caller.get("vip"))}
    if caller.get("display_value") is not None:
        reporter["name"] = caller["display_value"].strip()
    if caller.get("email") is not None:
        reporter["email"] = caller["email"].strip().lower()
    if caller.get("user_name") is not None:
        reporter["login"] = caller["user_name"]
    out["reporter"] = reporter
    if assigned.get("email") is not None:
        out["assignee"] = {"email": assigned["email"].strip().lower()}
    if group.get("display_value") is not None:
        out["queue"] = QUEUES.get(group["display_value"], "L1-SERVICEDESK")
    site: dict[str, Any] = {}
    if location.get("display_value") is not None:
        site["name"] = location["display_value"]
    if location.get("country") is not None:
        country = location["country"].upper()
        site["country"] = COUNTRIES.get(country, country)
    if site:
        out["site"] = site

    opened = ticket.get("opened_at")
    if opened is not None:
        local = datetime.strptime(opened.strip(), "%Y-%m-%d %H:%M:%S")
        moment = local.replace(tzinfo=INSTANCE_TZ).astimezone(UTC)
        out["created_at"] = moment.isoformat().replace("+00:00", "Z")
    updated = ticket.get("sys_updated_on")
    if updated is not None:
        moment = datetime.fromisoformat(updated.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        out["updated_local"] = moment.astimezone(SUPPLIER_TZ).strftime("%Y-%m-%d %H:%M")

    reopened = ticket.get("reopen_count")
    out["reopen_count"] = 0 if reopened is None else int(reopened)
    tags = ticket.get("sys_tags")
    out["tags"] = [] if tags is None else [t.strip() for t in tags.split(",") if t.strip()]
    return out


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _truncate(text: str, limit: int, marker: str) -> str:
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def _bool(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"not a boolean: {value!r}")
