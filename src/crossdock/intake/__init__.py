"""The webhook intake: an ASGI application that stores each accepted request durably
before answering 202, and refuses everything else with a clear status and nothing stored.

    app = create_intake_app(config, backend, metrics=Metrics())

See docs/intake.md for the steps, status codes and signature schemes.
"""

from __future__ import annotations

from crossdock.intake.app import IntakeApp, create_intake_app
from crossdock.intake.signatures import (
    BadSignature,
    SignatureError,
    SignatureOptions,
    StaleTimestamp,
    Verifier,
    register_signature_scheme,
    sign_sha256,
    sign_standard_webhooks,
)

__all__ = [
    "BadSignature",
    "IntakeApp",
    "SignatureError",
    "SignatureOptions",
    "StaleTimestamp",
    "Verifier",
    "create_intake_app",
    "register_signature_scheme",
    "sign_sha256",
    "sign_standard_webhooks",
]
