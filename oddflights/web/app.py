"""The read-only web app (Starlette + Jinja2): receivers, days, a day's odd flights with their
pictures, a flight's track, and JSON endpoints that mirror the CLI's JSON.

Bad addresses and values give plain 400/404 pages (JSON under /api/): every OddflightsError
becomes the page of its ``http_status`` in one handler. Anything unexpected is logged and
answered with a plain 500 page, never a traceback. Every link is relative and every
asset is served from here: the page works with no Internet connection.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jinja2
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oddflights.days import parse_day
from oddflights.errors import OddflightsError
from oddflights.rows import receiver_row
from oddflights.web.feedback import Feedback
from oddflights.web.metrics import health, registry
from oddflights.web.site import BadRequest, NotFound, Site, parse_int
from oddflights.web.tiles import tile_settings

_log = logging.getLogger(__name__)
_HERE = Path(__file__).parent

# Nothing on the page comes from elsewhere; the pictures are same-origin PNGs (data: URIs in
# the report) and the drawings inline SVG. No page may be framed (clickjacking).
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
MAX_SCALE = 8


def content_policy(tile_origin: str | None = None) -> str:
    """CSP, or with the optional tile map (oddflights.web.tiles): Leaflet's script, served
    from here, and images from the tiles' origin; still nothing else from anywhere."""
    if not tile_origin:
        return CSP
    return CSP.replace("img-src 'self' data:", f"img-src 'self' data: {tile_origin}") + (
        "; script-src 'self'"
    )


def templates() -> Jinja2Templates:
    """The page templates (autoescaped), shared with the report."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = lambda v, digits=4: "" if v is None else f"{float(v):.{digits}g}"
    return Jinja2Templates(env=env)


class _SecurityHeaders:
    """Adds a strict Content-Security-Policy and no-sniff to every response."""

    def __init__(self, app: ASGIApp, csp: str = CSP) -> None:
        self.app = app
        self.csp = csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", self.csp))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(engine: Engine, feedback_engine: Engine | None = None) -> Starlette:
    """The app over ``engine`` (which should be opened with ``open_readonly``). With
    ``feedback_engine`` (read-write), flight pages get the feedback buttons
    (oddflights.web.feedback), which write through it alone."""
    site = Site(engine)
    tpl = templates()
    feedback: Feedback | None = None
    metrics_registry = registry(engine)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        if feedback is not None:
            context.setdefault("feedback", feedback.context(request))
        return tpl.TemplateResponse(request, name, context, status_code=status)

    if feedback_engine is not None:
        feedback = Feedback(feedback_engine, page)

    def _flag(request: Request, name: str) -> bool:
        value = request.query_params.get(name, "")
        if value not in ("", "0", "1", "true", "false"):
            raise BadRequest(f"{name}={value!r} must be 1 or 0")
        return value in ("1", "true")

    def _flight_id(request: Request) -> int:
        value = parse_int(request.path_params["flight_id"], "flight id")
        assert value is not None
        return value

    # HTML pages

    def index(request: Request) -> Response:
        return page(request, "index.html", receivers=site.receivers_page())

    def receiver_page(request: Request) -> Response:
        receiver = site.receiver(request.path_params["name"])
        return page(request, "receiver.html", receiver=receiver, days=site.days(receiver))

    def day_page(request: Request) -> Response:
        receiver = site.receiver(request.path_params["name"])
        day = parse_day(request.path_params["day"])
        model_id = parse_int(request.query_params.get("model"), "model")
        data = site.day_page(
            receiver, day, model_id=model_id, include_all=_flag(request, "all"), include_known=True
        )
        return page(request, "day.html", **data)

    def flight_page(request: Request) -> Response:
        data = site.flight_page(_flight_id(request))
        if feedback is not None:
            data["feedback_state"] = feedback.flight_state(_flight_id(request))
        return page(request, "flight.html", **data)

    def residual_image(request: Request) -> Response:
        flight_id = _flight_id(request)
        model_id = parse_int(request.query_params.get("model"), "model")
        scale = parse_int(request.query_params.get("scale"), "scale") or 4
        if scale > MAX_SCALE:
            raise BadRequest(f"scale {scale} is out of range 1..{MAX_SCALE}")
        if model_id is None:
            scores = site.flight_json(flight_id)["scores"]
            if not scores:
                raise NotFound(f"flight {flight_id} has not been scored (give ?model=ID)")
            model_id = int(scores[0]["model_id"])
        else:
            site.flight(flight_id)
        # No such model, or one without a usable detector (ScoringError: retrain it): a 404.
        png = site.pictures.residual_png(flight_id, model_id, scale)
        return Response(
            png, media_type="image/png", headers={"cache-control": "public, max-age=86400"}
        )

    # JSON

    def api_receivers(request: Request) -> Response:
        return JSONResponse([receiver_row(r) for r in site.receivers()])

    def api_days(request: Request) -> Response:
        return JSONResponse(site.days(site.receiver(request.path_params["receiver"])))

    def api_anomalies(request: Request) -> Response:
        receiver = site.receiver(request.path_params["receiver"])
        day = parse_day(request.path_params["day"])
        found, _ = site.anomalies(
            receiver,
            day,
            model_id=parse_int(request.query_params.get("model"), "model"),
            include_all=_flag(request, "all"),
            top=parse_int(request.query_params.get("top"), "top"),
        )
        return JSONResponse(found)

    def api_flight(request: Request) -> Response:
        return JSONResponse(site.flight_json(_flight_id(request)))

    def healthz(request: Request) -> Response:
        status, body = health(engine)
        return JSONResponse(body, status_code=status)

    def metrics(request: Request) -> Response:
        # Read from the database at each scrape (oddflights.web.metrics).
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    # Errors

    def _error(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith(("/api/", "/healthz", "/img/")):
            return JSONResponse({"error": message, "status": status}, status_code=status)
        return page(request, "error.html", status=status, code=status, message=message)

    async def oddflights_error(request: Request, exc: Exception) -> Response:
        # The one place the web turns the core's errors into pages (the CLI's is cli._Main).
        assert isinstance(exc, OddflightsError)
        return _error(request, exc.http_status, str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return _error(request, exc.status_code, message)

    async def database_error(request: Request, exc: Exception) -> Response:
        _log.error("database error on %s: %s", request.url.path, exc, exc_info=exc)
        return _error(request, 503, "the database cannot be read just now; try again shortly")

    async def server_error(request: Request, exc: Exception) -> Response:
        _log.error("error on %s", request.url.path, exc_info=exc)
        return _error(request, 500, "something went wrong on our side; it has been logged")

    routes = [
        Route("/", index),
        Route("/receivers/{name}", receiver_page),
        Route("/receivers/{name}/{day}", day_page),
        Route("/flights/{flight_id}", flight_page),
        Route("/img/residual/{flight_id}.png", residual_image),
        Route("/api/receivers", api_receivers),
        Route("/api/days/{receiver}", api_days),
        Route("/api/anomalies/{receiver}/{day}", api_anomalies),
        Route("/api/flights/{flight_id}", api_flight),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Mount("/static", app=StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    if feedback is not None:
        routes[-1:-1] = feedback.routes()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # The first picture's one-time costs (the newest models' detectors, PIL's plugins)
        # are paid as the server starts, not by its first visitor. Only a head start: a
        # database that cannot be read yet leaves them to the first picture, as before.
        try:
            loaded = await run_in_threadpool(site.pictures.warm)
            _log.info("pictures ready for models %s", loaded)
        except (OddflightsError, SQLAlchemyError) as exc:
            _log.warning("pictures not prepared at start: %s", exc)
        yield

    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        exception_handlers={
            OddflightsError: oddflights_error,
            HTTPException: http_error,
            SQLAlchemyError: database_error,
            Exception: server_error,
        },
    )
    tiles = tile_settings()
    app.add_middleware(_SecurityHeaders, csp=content_policy(tiles["origin"] if tiles else None))
    app.state.engine = engine
    app.state.site = site
    return app
