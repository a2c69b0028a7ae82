"""Credentials of an http endpoint, as request headers.

Every kind answers two questions for the client: which headers to send (`headers`), and
whether a 401 is worth one retry with fresh credentials (`invalidate`). `auth_secrets`
lists the strings that must never appear in an error message.

OAuth 2 client credentials: the token is fetched on first use, cached until shortly
before ``expires_in`` (or, without one, until the target answers 401), and fetched by one
task at a time: tasks that wait for a fetch share its outcome, so 32 concurrent
deliveries cause one token request, and a failing token endpoint is asked once, not 32
times. A token endpoint answering 4xx (or without a token) is an `AuthError`; 408, 429,
5xx and network failures are `TransientError`.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import quote_plus

import aiohttp
import orjson
import structlog

from crossdock.config.connectors import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    HttpAuth,
    OAuth2ClientCredentials,
)
from crossdock.connectors.http.answers import Redactor, parse_retry_after
from crossdock.connectors.http.errors import describe_answer, network_errors
from crossdock.core.envelope import JSON
from crossdock.core.errors import AuthError, DeliveryError, TransientError

__all__ = ["Authenticator", "OAuth2Token", "StaticAuth", "auth_secrets", "authenticator"]

log = structlog.get_logger(component="http-sink")

Clock = Callable[[], float]
_TOKEN_ERROR_BODY = 512  # bytes of a token endpoint's error answer kept in the message
SessionGetter = Callable[[], aiohttp.ClientSession]


class Authenticator(Protocol):
    async def headers(self) -> dict[str, str]:
        """Headers that authenticate one request (may fetch a token first)."""
        ...

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        """The target answered 401 to a request sent with ``sent``: drop those credentials
        if still current. True if a retry with fresh ones could succeed."""
        ...


class StaticAuth:
    """none, basic, bearer and api_key: the same headers on every request."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    async def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        return False


class OAuth2Token:
    """OAuth 2 client-credentials grant with a cached access token (see module doc)."""

    def __init__(
        self,
        settings: OAuth2ClientCredentials,
        session: SessionGetter,
        redactor: Redactor,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self._settings = settings
        self._session = session
        self._redactor = redactor
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = float("inf")
        self._fetches = 0  # fetches finished, successful or not
        self._failure: DeliveryError | None = None
        self.requests = 0  # token requests sent (for tests and metrics)

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        if self._token is not None and sent.get("Authorization") == f"Bearer {self._token}":
            self._token = None
        return True

    async def token(self) -> str:
        """The cached token, or a fresh one (fetched by one task at a time)."""
        cached = self._valid()
        if cached is not None:
            return cached
        seen = self._fetches
        async with self._lock:
            if self._fetches != seen:  # a fetch ended while we waited: share its outcome
                cached = self._valid()
                if cached is not None:
                    return cached
                if self._failure is not None:
                    raise _again(self._failure) from self._failure
            self._failure = None
            try:
                return await self._fetch()
            except DeliveryError as exc:
                self._failure = exc
                raise
            finally:
                self._fetches += 1

    def _valid(self) -> str | None:
        if self._token is not None and self._clock() < self._renew_at:
            return self._token
        return None

    async def _fetch(self) -> str:
        self.requests += 1
        url = self._settings.token_url
        form, headers = self._form()
        with network_errors(f"token request to {url}", self._redactor):
            async with self._session().post(
                url, data=form, headers=headers, allow_redirects=False
            ) as response:
                body = await response.read()
                status, reason = response.status, response.reason or ""
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if not 200 <= status < 300:
            text = describe_answer(
                "token endpoint", status, reason, body, _TOKEN_ERROR_BODY, self._redactor
            )
            if status in (408, 429) or status >= 500:
                raise TransientError(text, retry_after=retry_after)
            raise AuthError(text)
        return self._keep(body)

    def _form(self) -> tuple[dict[str, str], dict[str, str]]:
        """The token request's form and headers."""
        settings = self._settings
        form = {"grant_type": "client_credentials"}
        if settings.scope:
            form["scope"] = settings.scope
        secret = settings.client_secret.get_secret_value()
        if settings.client_auth == "basic":  # RFC 6749 2.3.1: form-encoded, then Basic
            credentials = _basic(settings.client_id, secret, form_encode=True)
            return form, {"Authorization": f"Basic {credentials}"}
        return {**form, "client_id": settings.client_id, "client_secret": secret}, {}

    def _keep(self, body: bytes) -> str:
        """Cache the token of a 2xx token answer; AuthError if it has none."""
        answer = _json_object(body)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(f"token endpoint {self._settings.token_url} gave no access_token")
        self._redactor.add(token)
        expires_in = answer.get("expires_in")
        self._token, self._renew_at = token, self._clock() + _lifetime(expires_in)
        log.info("oauth token fetched", token_url=self._settings.token_url, expires_in=expires_in)
        return token


def _json_object(body: bytes) -> dict[str, JSON]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _lifetime(expires_in: JSON) -> float:
    """Seconds a token is used for: ``expires_in`` less 10 % (at most 30 s); forever
    without one (until a 401)."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return float("inf")
    lifetime = max(float(expires_in), 0.0)
    return lifetime - min(30.0, lifetime / 10)


def _again(exc: DeliveryError) -> DeliveryError:
    """A fresh copy of a shared failure, for another waiting task."""
    if isinstance(exc, TransientError):
        return TransientError(str(exc), retry_after=exc.retry_after)
    return type(exc)(str(exc))


def _basic(user: str, password: str, *, form_encode: bool = False) -> str:
    if form_encode:
        user, password = quote_plus(user), quote_plus(password)
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def authenticator(
    auth: HttpAuth, session: SessionGetter, redactor: Redactor, *, clock: Clock = time.monotonic
) -> Authenticator:
    """The `Authenticator` for one endpoint's ``auth`` settings. ``redactor`` learns each
    OAuth access token as it is fetched."""
    if isinstance(auth, BasicAuth):
        credentials = _basic(auth.username, auth.password.get_secret_value())
        return StaticAuth({"Authorization": f"Basic {credentials}"})
    if isinstance(auth, BearerAuth):
        return StaticAuth({"Authorization": f"Bearer {auth.token.get_secret_value()}"})
    if isinstance(auth, ApiKeyAuth):
        return StaticAuth({auth.header: auth.value.get_secret_value()})
    if isinstance(auth, OAuth2ClientCredentials):
        return OAuth2Token(auth, session, redactor, clock=clock)
    return StaticAuth({})


def auth_secrets(auth: HttpAuth) -> list[str]:
    """Every static secret of ``auth``, in each form it is sent in: to mask in messages."""
    if isinstance(auth, BasicAuth):
        password = auth.password.get_secret_value()
        return [password, _basic(auth.username, password)]
    if isinstance(auth, BearerAuth):
        return [auth.token.get_secret_value()]
    if isinstance(auth, ApiKeyAuth):
        return [auth.value.get_secret_value()]
    if isinstance(auth, OAuth2ClientCredentials):
        secret = auth.client_secret.get_secret_value()
        return [secret, _basic(auth.client_id, secret, form_encode=True)]
    return []
