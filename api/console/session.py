"""The console's sessions: a signed cookie naming an API key by its hash, CSRF and Origin.

The cookie holds no key, only its SHA-256 (what the key table stores), a random session
id and two times; it is signed with ``Settings.console_secret`` (HMAC-SHA256). Every
request looks the key up through the API's own key cache (``api.deps.caller_of_key_hash``),
so a revoked key signs its sessions out within ``api_key_cache_seconds``. Every POST
carries a CSRF token derived from the session id and comes from the console's own origin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from fastapi import Request, Response

from api.auth import Caller
from api.deps import caller_of_key_hash, get_app_settings
from api.errors import Forbidden, Unauthorized, Unavailable
from db.keys import KeyRole

COOKIE = "orderclock_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
PATH = "/console"
CONSOLE_ROLES = frozenset({KeyRole.support, KeyRole.admin})
SERVICE_REFUSED = (
    "a service key belongs to a backend, not a person: sign in with your own support or "
    "admin key (orderclock keys create <your name> --role support)"
)


class SignInNeeded(Exception):
    """The request has no valid session: the console sends the browser to sign in."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "")
        self.reason = reason


@dataclass(frozen=True)
class ConsoleSession:
    """What the cookie says: whose key (by hash), which session, when signed in and last seen."""

    sid: str
    key_hash: str
    issued: float
    seen: float


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in person: their key's caller, session and the session's CSRF token."""

    caller: Caller
    session: ConsoleSession
    csrf: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: bytes, body: bytes) -> bytes:
    return hmac.new(secret, purpose + b"\0" + body, hashlib.sha256).digest()


def encode(session: ConsoleSession, secret: bytes) -> str:
    """The cookie's value: the session as JSON and its signature."""
    body = json.dumps(
        {"sid": session.sid, "kh": session.key_hash, "iat": session.issued, "seen": session.seen},
        separators=(",", ":"),
    ).encode()
    return f"{_b64(body)}.{_b64(_mac(secret, b'session', body))}"


def decode(value: str, secret: bytes) -> ConsoleSession | None:
    """The session a cookie value carries, or None if it is malformed or not signed by us."""
    try:
        body_text, mac_text = value.split(".", 1)
        body = _unb64(body_text)
        if not hmac.compare_digest(_unb64(mac_text), _mac(secret, b"session", body)):
            return None
        data = json.loads(body)
        return ConsoleSession(
            sid=str(data["sid"]),
            key_hash=str(data["kh"]),
            issued=float(data["iat"]),
            seen=float(data["seen"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def csrf_token(session: ConsoleSession, secret: bytes) -> str:
    """The session's CSRF token: only a holder of the secret can make it for a session id."""
    return _b64(_mac(secret, b"csrf", session.sid.encode()))


async def console_secret(request: Request) -> bytes:
    """The secret signing the console's cookies; 503 when the deployment has none."""
    settings = await get_app_settings(request)
    if settings.console_secret is None:
        raise Unavailable(
            "the console is not configured: set ORDERCLOCK_CONSOLE_SECRET (32 characters "
            "or more) for the API process; `orderclock dev` sets one"
        )
    return settings.console_secret.get_secret_value().encode()


def new_session(key_hash: str) -> ConsoleSession:
    now = time.time()
    return ConsoleSession(sid=secrets.token_urlsafe(16), key_hash=key_hash, issued=now, seen=now)


async def set_cookie(request: Request, response: Response, session: ConsoleSession) -> None:
    """Write the session's cookie: HttpOnly, SameSite=Strict, Secure unless dev says not."""
    settings = await get_app_settings(request)
    response.set_cookie(
        COOKIE,
        encode(session, await console_secret(request)),
        max_age=int(settings.console_session_lifetime.total_seconds()),
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=settings.console_cookie_secure,
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")


async def check_origin(request: Request) -> None:
    """403 unless a POST comes from the console's own origin (``Origin``, else ``Referer``)."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent:
        raise Forbidden("refused: the request names no Origin; send it from the console")
    origin = urlsplit(sent)
    own = urlsplit(str(request.base_url))
    if (origin.scheme, origin.netloc) != (own.scheme, own.netloc):
        raise Forbidden(f"refused: the request comes from {origin.scheme}://{origin.netloc}")


async def signed_in(request: Request) -> ConsoleUser:
    """The signed-in user of a console request; :class:`SignInNeeded` if there is none.

    A session idle longer than ``console_idle_timeout`` or older than
    ``console_session_lifetime`` has ended; a key revoked or turned into a service key
    ends it too. The cookie is re-issued with each request (the idle clock restarts).
    """
    secret = await console_secret(request)
    settings = await get_app_settings(request)
    value = request.cookies.get(COOKIE)
    if not value:
        raise SignInNeeded()
    session = decode(value, secret)
    if session is None:
        raise SignInNeeded("your session could not be read: sign in again")
    now = time.time()
    if now - session.issued > settings.console_session_lifetime.total_seconds():
        raise SignInNeeded("your session reached its maximum length: sign in again")
    if now - session.seen > settings.console_idle_timeout.total_seconds():
        raise SignInNeeded("your session ended after a while without activity: sign in again")
    try:
        caller = await caller_of_key_hash(request, session.key_hash)
    except Unauthorized:
        raise SignInNeeded("your API key was revoked: you have been signed out") from None
    if caller.role not in CONSOLE_ROLES:
        raise SignInNeeded(SERVICE_REFUSED)
    user = ConsoleUser(
        caller=caller, session=replace(session, seen=now), csrf=csrf_token(session, secret)
    )
    request.state.console_user = user
    return user


async def check_post(request: Request, user: ConsoleUser, form_token: str | None) -> None:
    """403 unless a POST has the session's CSRF token and comes from the console's origin."""
    await check_origin(request)
    sent = form_token or request.headers.get(CSRF_HEADER)
    if not sent or not hmac.compare_digest(sent, user.csrf):
        raise Forbidden("refused: the form's security token is missing or stale; reload the page")
