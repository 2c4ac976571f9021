"""The web page's feedback buttons (`oddflights serve --feedback`): "known", "normal" and
"odd" on each flight page, written with the name of a per-install token.

- Sign in: /login takes a token once (`oddflights token create NAME`) and keeps it in an
  HttpOnly, SameSite=Strict cookie. Each request looks its hash up, so `token revoke` takes
  effect at once.
- CSRF: every form carries an HMAC of the session (the token's hash) under a secret drawn
  when the server starts; a POST whose field does not match, or that comes from another
  origin, is refused (403). A page from before a restart asks to be reloaded.
- Writes go through a read-write engine of their own; the pages still read with the
  read-only one. Plain HTML forms, no script: the page's CSP stays ``default-src 'none'``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from oddflights.db.aircraft import read_aircraft
from oddflights.db.flights import get_flight
from oddflights.db.known import add_flight_rule, receiver_rules
from oddflights.db.labels import flight_labels, set_label
from oddflights.db.tokens import find_token, touch_token
from oddflights.errors import OddflightsError
from oddflights.known import check_reason, match_flights
from oddflights.labels import LABELS
from oddflights.tokens import Token, csrf_ok, csrf_token, token_hash
from oddflights.web.site import BadRequest, parse_int

_log = logging.getLogger(__name__)

COOKIE = "oddflights_token"
# The sign-in form's double-submit cookie (SameSite=Strict: another site's form lacks it).
LOGIN_COOKIE = "oddflights_login"
ACTIONS = ("known", *LABELS)
# A form here is a few short fields; anything larger is not ours.
MAX_BODY = 8192
# How long the browser keeps the sign-in (the token itself does not expire).
COOKIE_DAYS = 90


class Forbidden(OddflightsError, PermissionError):
    """A write without a valid token or CSRF field (the message says which)."""

    http_status = 403


class TooLarge(OddflightsError, ValueError):
    """A form body over MAX_BODY bytes."""

    http_status = 413


Render = Callable[..., Response]


def _safe_next(value: str | None, fallback: str = "/") -> str:
    """A same-site path to go back to: an absolute path on this server, nothing else."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return fallback
    parts = urlsplit(value)
    return fallback if parts.scheme or parts.netloc else value


class Feedback:
    """The sign-in, the CSRF check and the writes, over the read-write ``engine``."""

    def __init__(self, engine: Engine, render: Render) -> None:
        self.engine = engine
        self.render = render
        # Drawn per start: the CSRF fields of pages served before a restart stop working.
        self.secret = secrets.token_bytes(32)

    # Sessions

    def _cookie(self, request: Request) -> str | None:
        value = request.cookies.get(COOKIE)
        return value or None

    def session(self, request: Request) -> tuple[Token, str] | None:
        """The signed-in token and its hash, or None (no cookie, unknown or revoked)."""
        value = self._cookie(request)
        if value is None:
            return None
        hashed = token_hash(value)
        found = find_token(self.engine, hashed)
        return None if found is None else (found, hashed)

    def context(self, request: Request) -> dict[str, Any]:
        """What the templates need: the signed-in name (None: not signed in), the CSRF field
        and the sign-in address that comes back here."""
        try:
            signed = self.session(request)
        except SQLAlchemyError:
            # The error page of a database that cannot be read must not fail again here.
            signed = None
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return {
            "user": signed[0].name if signed else None,
            "csrf": csrf_token(self.secret, signed[1]) if signed else "",
            "login": "/login?next=" + quote(here, safe="/"),
        }

    def flight_state(self, flight_id: int) -> dict[str, Any]:
        """The flight's current label (with who and when) and the known-flight rule that
        matches it, if any."""
        flight = get_flight(self.engine, flight_id)
        receiver_id, day = int(flight["receiver_id"]), flight["day"]
        labels = flight_labels(self.engine, receiver_id, day, day)
        mine = labels[labels["flight_id"] == flight_id]
        label = mine.iloc[-1].to_dict() if len(mine) else None
        rules = receiver_rules(self.engine, receiver_id, day)
        start = flight["start_ts"]
        # Registration and type rules need the aircraft's details (read only when rules exist).
        aircraft: dict[str, tuple[str | None, str | None]] = {}
        found = read_aircraft(self.engine, [flight["icao24"]]) if rules else None
        for r in [] if found is None else found.to_dict("records"):
            reg, kind = r["registration"], r["type_code"]
            aircraft[str(r["icao24"]).lower()] = (
                reg if isinstance(reg, str) else None,
                kind if isinstance(kind, str) else None,
            )
        rule = match_flights(
            rules, [(flight["icao24"], flight["callsign"], start, day)], aircraft=aircraft
        )[0]
        return {"label": label, "known": rule}

    # Checks

    async def _form(self, request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise TooLarge(f"the form is over {MAX_BODY} bytes")
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def _same_origin(self, request: Request) -> None:
        # Browsers send Origin with every form POST: another site's form is refused even
        # before the CSRF field is looked at (and a sign-in cannot be forced from there).
        origin = request.headers.get("origin")
        # "null": the page's Referrer-Policy no-referrer makes Chromium hide even our own
        # origin; the CSRF fields stand alone then.
        if origin is None or origin == "null":
            return
        if urlsplit(origin).netloc != request.headers.get("host", ""):
            raise Forbidden(f"a form from {origin} may not write here")

    def _writer(self, request: Request, form: dict[str, str]) -> Token:
        """The token a write comes with, after the origin and CSRF checks; Forbidden
        otherwise."""
        self._same_origin(request)
        signed = self.session(request)
        if signed is None:
            raise Forbidden(
                "sign in with a token first (/login; `oddflights token create NAME` makes one)"
            )
        if not csrf_ok(self.secret, signed[1], form.get("csrf")):
            raise Forbidden("the form's CSRF field is missing or stale: reload the page")
        return signed[0]

    # Routes

    async def login(self, request: Request) -> Response:
        """GET: the sign-in form; POST: check the token and set the cookie."""
        target = _safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return self._login_page(request, target, None)
        self._same_origin(request)
        form = await self._form(request)
        target = _safe_next(form.get("next"), target)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not hmac.compare_digest(nonce, form.get("csrf", "")):
            raise Forbidden("the sign-in form is missing or stale: reload /login")
        value = form.get("token", "").strip()
        found = await run_in_threadpool(find_token, self.engine, token_hash(value))
        if not value or found is None:
            return self._login_page(
                request, target, "That token is not known, or was revoked.", status=403
            )
        await run_in_threadpool(touch_token, self.engine, found.name)
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict")
        response.set_cookie(
            COOKIE,
            value,
            max_age=COOKIE_DAYS * 86400,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    def _login_page(
        self, request: Request, target: str, message: str | None, status: int = 200
    ) -> Response:
        """The sign-in form with a fresh double-submit nonce (field and cookie)."""
        nonce = secrets.token_urlsafe(24)
        response = self.render(
            request, "login.html", status=status, next=target, message=message, login_csrf=nonce
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=3600,
            path="/login",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        """Forget the cookie (a POST with the CSRF field)."""
        form = await self._form(request)
        await run_in_threadpool(self._writer, request, form)
        response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    def _write(self, flight_id: int, action: str, text: str, by: Token) -> None:
        if action == "known":
            if self.flight_state(flight_id)["known"] is None:  # known already: nothing to add
                add_flight_rule(
                    self.engine, flight_id, reason=check_reason(text), created_by=by.name
                )
        else:
            set_label(self.engine, flight_id, action, note=text or None, created_by=by.name)
        touch_token(self.engine, by.name)
        _log.info("flight %d: %s by token %s", flight_id, action, by.name)

    async def give(self, request: Request) -> Response:
        """POST /flights/{id}/feedback: action known|normal|odd, an optional reason/note."""
        flight_id = parse_int(request.path_params["flight_id"], "flight id")
        assert flight_id is not None
        form = await self._form(request)
        by = await run_in_threadpool(self._writer, request, form)
        action = form.get("action", "")
        if action not in ACTIONS:
            raise BadRequest(f"action {action!r} must be one of {', '.join(ACTIONS)}")
        text = form.get("text", "").strip()
        await run_in_threadpool(self._write, flight_id, action, text, by)
        return RedirectResponse(f"/flights/{flight_id}#feedback", status_code=303)

    def routes(self) -> list[Route]:
        """The routes to add to the app."""
        return [
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/flights/{flight_id}/feedback", self.give, methods=["POST"]),
        ]
