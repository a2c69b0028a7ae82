"""Mapping benchmark: a 30-field ticket mapping compiled by crossdock vs the same by hand.

    python bench/mapping/run.py            # full run (about half a minute)
    python bench/mapping/run.py --quick    # a few seconds
    python bench/mapping/run.py --profile  # where crossdock's time goes (cProfile)

``ticket.yaml`` (a ServiceNow-like incident to a supplier's ticket: renames of nested
paths, constants, templates, value maps with each unmapped policy, a lookup table, a
condition, trims and case, a truncation, a boolean, a number, a list, two date
conversions across time zones) is compiled as the product compiles it. ``handwritten.py``
does the same in plain Python. Before timing, both map every generated ticket and must
give identical output. Then, in one process, batches of ``--batch`` messages are timed
with ``perf_counter_ns``, crossdock and hand-written alternating (A B, then B A), for
``--rounds`` rounds; each figure is the median per-message time over all its batches.
``docs/benchmarks.md`` holds the results of a full run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from handwritten import map_ticket

from crossdock.config.rules import MappingSpec, compile_mapping
from crossdock.core.rules import Mapping

HERE = Path(__file__).resolve().parent
AIM_MICROS = 50.0
AIM_RATIO = 3.0

Body = dict[str, Any]
MapFunction = Callable[[Body], Any]

PRIORITIES = ["1 - Critical", "2 - High", "3 - Moderate", "4 - Low", "5 - Planning"]
STATES = ["New", "In Progress", " On Hold", "Resolved", "Closed", "Canceled"]
CONTACT_TYPES = ["email", "Phone", "self-service", "walk-in", "chat", ""]
GROUPS = ["Network Operations", "Service Desk", "Workplace", "Database Team", "Facilities"]
SITES = [("Amsterdam HQ", "nl"), ("Brussels", "BE"), ("Berlin", "de"), ("Oslo", "NO")]
CATEGORIES = ["Network", " software", "Hardware", "Database", "inquiry"]
UPDATE_ZONES = ["UTC", "Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]
PEOPLE = [
    ("Ada Lovelace", "Ada.Lovelace@Example.com", "alovelace"),
    ("  Grace Hopper ", "ghopper@example.com ", "ghopper"),
    ("Alan Turing", "ALAN.TURING@EXAMPLE.COM", "aturing"),
    ("Edsger Dijkstra", "edsger@example.nl", "edijkstra"),
]
SUBJECTS = [
    "VPN drops every 10 minutes",
    "  Printer on floor 3 jams on every second page ",
    "Cannot log in to the expense tool after password reset",
    "Database replica lagging behind primary by more than an hour during nightly batch "
    "jobs, reports show yesterday's figures",
]


def load_mapping() -> Mapping:
    """ticket.yaml, validated and compiled exactly as a configuration's mapping is."""
    raw = yaml.safe_load((HERE / "ticket.yaml").read_text(encoding="utf-8"))
    return compile_mapping(MappingSpec.model_validate(raw))


def generate(count: int, seed: int = 5) -> list[Body]:
    """Varied incidents: every priority and state, optional parts missing, dates across
    daylight-saving changes, update times written in several time zones."""
    rng = random.Random(seed)
    return [_ticket(rng, n) for n in range(count)]


def _ticket(rng: random.Random, n: int) -> Body:
    name, email, login = PEOPLE[n % len(PEOPLE)]
    site, country = rng.choice(SITES)
    month = rng.choice([3, 6, 10, 12])
    day = rng.choice([1, 15, 27, 30, 31] if month != 6 else [1, 15, 27, 30])
    opened = datetime(2024, month, day) + timedelta(seconds=rng.randrange(86_400))
    if n % 11 == 0:  # 02:xx when the clocks change: skipped in March, twice in October
        opened = datetime(2024, 3, 31) if n % 2 else datetime(2024, 10, 27)
        opened += timedelta(hours=2, seconds=rng.randrange(3600))
    updated = opened.replace(tzinfo=ZoneInfo("Europe/Amsterdam")) + timedelta(
        minutes=rng.randrange(1, 10_000)
    )
    zone = ZoneInfo(UPDATE_ZONES[n % len(UPDATE_ZONES)])
    ticket: Body = {
        "sys_id": f"{rng.getrandbits(128):032x}",
        "number": f"INC{n:07d}",
        "short_description": SUBJECTS[n % len(SUBJECTS)],
        "description": "Reported by phone.\n\nSteps: open the tool, log in, wait. " * (n % 4),
        "priority": PRIORITIES[n % len(PRIORITIES)],
        "impact": str(rng.randint(1, 4)),
        "urgency": str(rng.randint(1, 4)),
        "state": STATES[n % len(STATES)],
        "contact_type": CONTACT_TYPES[n % len(CONTACT_TYPES)],
        "category": rng.choice(CATEGORIES),
        "subcategory": rng.choice(["VPN", "Email", "Printer", "Replication"]),
        "cmdb_ci": {"display_value": f"CI-{rng.randint(1, 500):04d}", "value": "ci"},
        "caller_id": {"display_value": name, "email": email, "user_name": login},
        "assignment_group": {"display_value": GROUPS[n % len(GROUPS)], "value": "grp"},
        "location": {"display_value": site, "country": country},
        "opened_at": opened.strftime("%Y-%m-%d %H:%M:%S"),
        "sys_updated_on": updated.astimezone(zone).isoformat(),
        "reopen_count": str(rng.randint(0, 3)),
        "sys_tags": rng.choice(["vpn, remote", "printer,, floor-3 ", "", "network"]),
        "close_notes": " Restarted the gateway. " * rng.randint(1, 40),
    }
    if n % 3:
        ticket["caller_id"]["vip"] = rng.choice(["true", "false", "yes", "0"])
    if n % 17 == 0:
        del ticket["caller_id"]
    if n % 4 == 0:
        ticket["assigned_to"] = {"display_value": "Bob", "email": " Bob.Ops@Example.com"}
    for key in ("close_notes", "sys_tags", "reopen_count", "urgency", "description"):
        if rng.random() < 0.25:
            del ticket[key]
    for key in ("cmdb_ci", "location", "impact", "contact_type", "category", "subcategory"):
        if rng.random() < 0.15:
            del ticket[key]
    if n % 7 == 0:
        ticket["sys_updated_on"] = updated.astimezone(UTC).replace(tzinfo=None).isoformat()
    return ticket


def check_equal(mapping: Mapping, tickets: Sequence[Body]) -> None:
    """Exit 1 unless crossdock and the hand-written function agree on every ticket."""
    for index, ticket in enumerate(tickets):
        ours, theirs = mapping.apply(ticket), map_ticket(ticket)
        if ours != theirs:
            keys = sorted(set(ours) | set(theirs))
            diff = {k: (ours.get(k), theirs.get(k)) for k in keys if ours.get(k) != theirs.get(k)}
            sys.exit(f"ticket {index} maps differently (crossdock, hand-written): {diff}")


def time_batch(function: MapFunction, batch: Sequence[Body]) -> float:
    """Microseconds per message over one batch."""
    start = time.perf_counter_ns()
    for body in batch:
        function(body)
    return (time.perf_counter_ns() - start) / len(batch) / 1000


def measure(
    contenders: dict[str, MapFunction], batch: Sequence[Body], rounds: int, per_round: int
) -> dict[str, list[float]]:
    """Per-message µs of every batch, the contenders alternating within each round."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    for _ in range(2):  # warm up: caches, zoneinfo, strptime's compiled patterns
        for name in order:
            time_batch(contenders[name], batch)
    for round_ in range(rounds):
        for _ in range(per_round):
            for name in order if round_ % 2 == 0 else reversed(order):
                times[name].append(time_batch(contenders[name], batch))
    return times


def profile(mapping: Mapping, batch: Sequence[Body]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        for body in batch:
            mapping.apply(body)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpus} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}"
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def verdict(met: bool, aim: str) -> str:
    return f"{'met' if met else 'MISSED'} (aim {aim})"


def report(times: dict[str, list[float]], fields: int, tickets: int, batch: int) -> None:
    ours = statistics.median(times["crossdock"])
    theirs = statistics.median(times["hand-written"])
    ratio = ours / theirs
    spread = {name: f"batches {min(t):.1f}-{max(t):.1f} µs" for name, t in times.items()}
    rows = [
        ("crossdock mapping", f"{ours:.1f} µs", spread["crossdock"]),
        ("hand-written Python", f"{theirs:.1f} µs", spread["hand-written"]),
        ("ratio crossdock/hand-written", f"{ratio:.2f}", verdict(ratio <= AIM_RATIO, "<= 3x")),
        ("crossdock per message", f"{ours:.1f} µs", verdict(ours < AIM_MICROS, "< 50 µs")),
        ("crossdock throughput", f"{1e6 / ours:,.0f} msg/s", "one core"),
    ]
    print(f"\n{fields} fields, {tickets} tickets cycled in batches of {batch:,};")
    print(f"{len(times['crossdock'])} batches each, A B / B A interleaved\n")
    print(f"{'measurement (median per message)':<34}{'value':>14}  note")
    for label, value, note in rows:
        print(f"{label:<34}{value:>14}  {note}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few seconds")
    parser.add_argument("--rounds", type=int, help="rounds (default 30; quick 3)")
    parser.add_argument("--per-round", type=int, help="batches per contender per round")
    parser.add_argument("--batch", type=int, default=1000, help="messages per timed batch")
    parser.add_argument("--tickets", type=int, default=500, help="distinct tickets generated")
    parser.add_argument("--profile", action="store_true", help="cProfile crossdock and stop")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 30)
    per_round = args.per_round or (2 if args.quick else 5)

    print(f"machine: {machine()}")
    print(f"load average at start: {load()}")
    mapping = load_mapping()
    tickets = generate(args.tickets)
    check_equal(mapping, tickets)
    print(f"equality check: passed, identical output on all {len(tickets)} tickets")
    batch = [tickets[i % len(tickets)] for i in range(args.batch)]
    if args.profile:
        profile(mapping, batch)
        return
    contenders: dict[str, MapFunction] = {"crossdock": mapping.apply, "hand-written": map_ticket}
    times = measure(contenders, batch, rounds, per_round)
    report(times, len(mapping.fields), len(tickets), args.batch)
    print(f"\nload average at end: {load()}")


if __name__ == "__main__":
    main()
