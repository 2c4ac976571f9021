"""The one root of the errors oddflights raises on input or state a user can fix.

The core raises subclasses of ``OddflightsError``; each keeps the built-in base it had (a
``ValueError``, a ``LookupError``…) so that ``except ValueError`` still catches it. Two places
translate them, once each: the CLI's top command (``oddflights.cli._Main``) prints the message
as one line and exits 2, and the web app (``oddflights.web.app``) answers a page with the
error's ``http_status``. Anything that is not an ``OddflightsError`` is a bug and keeps its
traceback (the CLI) or becomes a logged 500 (the web).
"""

from __future__ import annotations


class OddflightsError(Exception):
    """Bad input or state the user can fix; the message is one line that names the value."""

    #: The status of the web page that shows this error (a 4xx: the request, not the server).
    http_status: int = 400


class NotFoundError(OddflightsError, LookupError):
    """Something asked for by name or id is not there (a receiver, flight, model, page)."""

    http_status = 404


class InvalidConfig(OddflightsError, ValueError):
    """A configuration object (raster, training, benchmark) whose values do not fit."""
