"""Webhook signature schemes: a registry of verifier functions, by name.

A verifier checks one request against the endpoint's secrets, on the raw body bytes,
before anything parses it. It returns None when the request is signed by any of the
secrets (so a secret can be rotated), and raises `BadSignature` or `StaleTimestamp`
otherwise. The intake answers 401 with only "bad signature" or "stale timestamp":
which part failed stays on the hub. Compare with `hmac.compare_digest`, never ``==``.

A connector plugs its system's scheme in before the configuration is loaded::

    def verify_acme(headers, body, secrets, now, options):
        ...  # raise BadSignature() unless a secret signed this request

    register_signature_scheme("acme", verify_acme)

``headers`` maps lowercase names to values (trimmed; a repeated one's joined by ", "), ``secrets``
are the configured secrets as UTF-8 bytes, ``now`` is epoch seconds, and ``options``
carries the endpoint's ``signature_header`` and ``tolerance``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from crossdock.config.connectors import signature_schemes

__all__ = [
    "BadSignature",
    "SecretCheck",
    "SignatureError",
    "SignatureOptions",
    "StaleTimestamp",
    "Verifier",
    "register_signature_scheme",
    "sign_sha256",
    "sign_standard_webhooks",
    "standard_webhooks_key",
    "verifier_for",
    "verify_sha256",
    "verify_standard_webhooks",
]


class SignatureError(Exception):
    """The request is not signed by any configured secret: answer 401."""


class BadSignature(SignatureError):
    """Missing, malformed or wrong signature."""


class StaleTimestamp(SignatureError):
    """The signed timestamp is outside the tolerance (a replay, or a skewed clock)."""


@dataclass(frozen=True, slots=True)
class SignatureOptions:
    """The endpoint's settings a verifier may use."""

    header: str | None  # lowercase; None: the scheme's own header
    tolerance: float  # seconds


Verifier = Callable[[Mapping[str, str], bytes, Sequence[bytes], float, SignatureOptions], None]
SecretCheck = Callable[[bytes], object]
"""Raises ValueError (without the secret in its message) if a secret cannot be used."""

_verifiers: dict[str, tuple[Verifier, SecretCheck | None]] = {}


def register_signature_scheme(
    name: str, verifier: Verifier, *, check_secret: SecretCheck | None = None
) -> None:
    """Make ``name`` a valid ``signature`` of webhook endpoints, checked by ``verifier``.

    ``check_secret`` is run on each configured secret when the intake is created, so a
    malformed secret stops the start instead of refusing every request. Registering the
    same function twice is a no-op; another one under a taken name is a ValueError.
    """
    existing = _verifiers.get(name)
    if existing is not None and existing[0] is verifier:
        return
    if existing is not None:
        raise ValueError(f"signature scheme {name!r} is already registered")
    signature_schemes.add(name)
    _verifiers[name] = (verifier, check_secret)


def verifier_for(name: str, secrets: Sequence[bytes]) -> Verifier | None:
    """The verifier of scheme ``name`` (None for ``"none"``), after checking ``secrets``.

    Raises ValueError for an unknown scheme or a secret the scheme cannot use.
    """
    if name == "none":
        return None
    if name not in _verifiers:
        raise ValueError(f"no verifier registered for signature scheme {name!r}")
    verifier, check = _verifiers[name]
    for number, secret in enumerate(secrets, 1):
        if check is not None:
            try:
                check(secret)
            except ValueError as exc:
                raise ValueError(f"{name} secret #{number}: {exc}") from None
    return verifier


# -- sha256 ---------------------------------------------------------------------------

SHA256_HEADER = "x-signature"


def sign_sha256(secret: bytes, body: bytes) -> str:
    """What a sender puts in the signature header: the hex HMAC-SHA256 of the body."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_sha256(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    now: float,
    options: SignatureOptions,
) -> None:
    """Hex HMAC-SHA256 of the raw body, optionally written ``sha256=<hex>``."""
    value = headers.get(options.header or SHA256_HEADER, "").strip()
    if value[:7].lower() == "sha256=":
        value = value[7:]
    try:
        given = bytes.fromhex(value)
    except ValueError:
        raise BadSignature() from None
    if not any(
        hmac.compare_digest(hmac.new(s, body, hashlib.sha256).digest(), given) for s in secrets
    ):
        raise BadSignature()


# -- Standard Webhooks ----------------------------------------------------------------

_WHSEC = b"whsec_"
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


def standard_webhooks_key(secret: bytes) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional).

    ValueError if it is not base64 (the message does not show the secret).
    """
    encoded = secret.removeprefix(_WHSEC)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("not whsec_ followed by base64") from None
    if not key:
        raise ValueError("empty key")
    return key


def sign_standard_webhooks(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """What a sender puts in ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` of
    ``{id}.{timestamp}.{body}`` keyed with the decoded secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(standard_webhooks_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def _v1_signatures(header: str) -> list[bytes]:
    found = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    return found


def verify_standard_webhooks(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    now: float,
    options: SignatureOptions,
) -> None:
    """The Standard Webhooks scheme (headers webhook-id, webhook-timestamp,
    webhook-signature). The signature is checked first, so only a holder of a secret
    learns that a timestamp was stale."""
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    given = _v1_signatures(headers.get("webhook-signature", ""))
    if not msg_id or not _TIMESTAMP.fullmatch(stamp) or not given:
        raise BadSignature()
    signed = f"{msg_id}.{stamp}.".encode("latin-1") + body  # the header bytes as sent
    keys = [standard_webhooks_key(s) for s in secrets]  # checked at start: no ValueError
    macs = [hmac.new(key, signed, hashlib.sha256).digest() for key in keys]
    if not any(hmac.compare_digest(mac, sig) for mac in macs for sig in given):
        raise BadSignature()
    if abs(now - int(stamp)) > options.tolerance:
        raise StaleTimestamp()


register_signature_scheme("sha256", verify_sha256)
register_signature_scheme(
    "standard-webhooks", verify_standard_webhooks, check_secret=standard_webhooks_key
)
