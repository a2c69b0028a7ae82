"""Random requests: never a 5xx, and the store holds exactly what was answered 202.

Hypothesis throws random bodies, content types and headers (random signature headers
included, and sometimes a correct signature) at every kind of endpoint. After each
request the whole store is compared with the ledger of 202 answers: every id answered
is stored, whole (one message per flow of the endpoint, all with the same body), and
nothing else is.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from intake_kit import FLOWS_OF, SECRETS, Intake

from crossdock.intake import sign_sha256, sign_standard_webhooks
from crossdock.intake.parsing import media_kind

ENDPOINTS = ["shop", "signed", "std", "desk", "lonely", "nope", "erp"]
ALLOWED = {202, 400, 401, 404, 413, 415, 422}

CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/problem+json",
            "application/x-www-form-urlencoded",
            "application/xml",
            "text/xml; charset=iso-8859-1",
            "text/plain",
            "multipart/form-data; boundary=--x",
            "application/json; charset=utf-16",
        ]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)
HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "X-Signature",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "Idempotency-Key",
            "User-Agent",
            "Authorization",
        ]
    ),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20).filter(
        lambda n: (
            n.lower()
            not in {
                "content-length",
                "transfer-encoding",
                "host",
                "connection",
                "expect",
                "upgrade",
            }
        )
    ),
)
HEADER_VALUES = st.one_of(
    st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80),
    st.from_regex(r"(sha256=)?[0-9a-f]{64}", fullmatch=True),
    st.from_regex(r"v1,[A-Za-z0-9+/]{43}=( v1,[A-Za-z0-9+/]{43}=)?", fullmatch=True),
    st.integers(0, 2_000_000_000).map(str),
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYED = st.builds(
    lambda order_id, sku, key, extra: {
        "order": {"id": order_id, "lines": [{"sku": sku}]},
        "id": key,
        "ticket": key,
        "extra": extra,
    },
    st.integers() | st.text(max_size=10),
    st.text(max_size=10),
    st.text(max_size=10) | st.integers(),
    JSON_VALUES,
)


def json_bytes(value: object) -> bytes:
    """Any integer size (those beyond 64 bits must be refused), compact or not."""
    return json.dumps(value).encode()


BODIES = st.one_of(
    st.binary(max_size=300),
    KEYED.map(json_bytes),
    JSON_VALUES.map(json_bytes),
    st.sampled_from(
        [b"ticket=T-1&a=1&a=2", b"<order><id>1</id><lines><sku>a</sku></lines></order>"]
    ),
    st.text(max_size=200).map(str.encode),
)


@dataclass
class Ledger:
    accepted: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> endpoint, body
    requests: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    endpoint: str
    body: bytes
    content_type: str | None
    headers: dict[str, str]
    sign: bool


RANDOM_CASES = st.builds(
    Case,
    st.sampled_from(ENDPOINTS),
    BODIES,
    st.none() | CONTENT_TYPES,
    st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=5),
    st.booleans(),
)


@st.composite
def plausible_cases(draw: st.DrawFn) -> Case:
    """Requests a sender could make: often accepted, sometimes not quite right."""
    endpoint = draw(st.sampled_from(["shop", "signed", "std", "desk"]))
    value = draw(KEYED)
    if endpoint == "desk":
        fields = {"ticket": str(value["ticket"]), "x": draw(st.text(max_size=10))}
        body, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
    else:
        body, content_type = (
            json_bytes(value),
            draw(st.sampled_from(["application/json", "application/json; charset=UTF-8"])),
        )
    headers = draw(st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3))
    return Case(endpoint, body, content_type, headers, draw(st.booleans() | st.just(True)))


CASES = st.one_of(RANDOM_CASES, plausible_cases())


def signed_headers(case: Case) -> dict[str, str]:
    headers = dict(case.headers)
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    if case.sign and case.endpoint == "signed":
        headers["X-Signature"] = sign_sha256(SECRETS["NEW"].encode(), case.body)
    elif case.sign and case.endpoint == "std":
        stamp = int(time.time())
        msg_id = headers.get("webhook-id") or "msg_fuzz"
        headers |= {"webhook-id": msg_id, "webhook-timestamp": str(stamp)}
        secret = SECRETS["WH2"].encode()
        headers["webhook-signature"] = sign_standard_webhooks(secret, msg_id, stamp, case.body)
    return headers


async def check_store(intake: Intake, ledger: Ledger) -> None:
    stored = {s.id: s for s in await intake.stored()}
    assert set(stored) == set(ledger.accepted)
    for ids in ledger.requests:
        endpoint = ledger.accepted[ids[0]][0]
        assert {stored[i].flow for i in ids} == FLOWS_OF[endpoint]
        assert all(stored[i].source == endpoint for i in ids)


@pytest.fixture
def ledger() -> Ledger:
    """Shared by every example of a test run, like the intake itself."""
    return Ledger()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=CASES)
async def test_random_requests_never_5xx_and_store_only_what_got_202(
    intake: Intake, ledger: Ledger, case: Case
) -> None:
    reply = await intake.post(case.endpoint, case.body, signed_headers(case))
    assert reply.status in ALLOWED, (reply.status, reply.json)
    event(f"{case.endpoint} {reply.status}")
    if reply.status != 202:
        assert set(reply.json) == {"error", "detail"}
    elif reply.json["duplicate"]:
        assert set(reply.json["ids"]) <= set(ledger.accepted)
    else:
        ids = reply.json["ids"]
        assert not set(ids) & set(ledger.accepted)
        ledger.accepted |= {i: (case.endpoint, case.body) for i in ids}
        ledger.requests.append(ids)
        for i in ids:
            message = await intake.message(i)
            if media_kind(case.content_type)[0] == "json":
                assert message.body == orjson.loads(case.body)
    await check_store(intake, ledger)
