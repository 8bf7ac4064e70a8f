"""The local web server: one HTML page, its script and style, and a small JSON API.

Standard library only (:mod:`http.server`): nothing to install, nothing fetched from the
internet. The page's Content-Security-Policy allows only this server and ``data:`` images, so
the browser itself refuses any outside font, script or beacon.

Routes::

    GET  /                      the page                GET /static/app.js, /static/app.css
    GET  /api/choices           schemes, channels, held-out photos, sizes
    POST /api/jobs              a request (genjscc.app.forms) -> {"job": id, "original": ..., "notes": [...]}
                                or 400 {"error": "..."} for a bad upload or choice
    GET  /api/jobs/ID?after=V   the job's state once its version exceeds V (long poll, up to 10 s)
    POST /api/jobs/ID/cancel    ask the job to stop at its next step
"""

from __future__ import annotations

import json
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from genjscc.app.choices import choices_document
from genjscc.app.forms import curve_work, prepare_image, read_form, transmit_work
from genjscc.app.jobs import JobBoard
from genjscc.app.work import SchemeCache, data_url, warm_up

__all__ = ["make_server", "AppServer", "MAX_REQUEST_BYTES"]

MAX_REQUEST_BYTES = 64 * 2**20  # a base64 upload of a ~48 MB file
LONG_POLL_SECONDS = 10.0
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/app.css": ("app.css", "text/css; charset=utf-8")}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; font-src 'none'; object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class AppServer(ThreadingHTTPServer):
    """The HTTP server with the app's state: the job board and the scheme cache (used by its worker only)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], quiet: bool = False, warm: str | None = None):
        self.board = JobBoard()  # before binding: a failed bind calls server_close, which closes the board
        self.cache = SchemeCache()
        self.quiet = quiet
        self._choices: dict | None = None
        super().__init__(address, Handler)
        if warm is not None:  # the first job: load this scheme and LPIPS before anyone asks
            self.board.submit("warm-up", lambda job: warm_up(self.cache, warm))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def choices(self) -> dict:
        if self._choices is None:
            self._choices = choices_document()
        return self._choices

    def server_close(self) -> None:
        self.board.close()
        super().server_close()


class Handler(BaseHTTPRequestHandler):
    server: AppServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document: dict) -> None:
        self._send(status, json.dumps(document).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in STATIC:
            name, content_type = STATIC[url.path]
            self._send(HTTPStatus.OK, resources.files("genjscc.app").joinpath("static", name).read_bytes(), content_type)
        elif url.path == "/api/choices":
            self._json(HTTPStatus.OK, self.server.choices())
        elif url.path.startswith("/api/jobs/"):
            job = self.server.board.get(url.path.removeprefix("/api/jobs/"))
            if job is None:
                return self._error(HTTPStatus.NOT_FOUND, "no such job (the server was restarted or it expired)")
            try:
                after = int(parse_qs(url.query).get("after", ["-1"])[0])
            except ValueError:
                return self._error(HTTPStatus.BAD_REQUEST, "after must be a whole number")
            self._json(HTTPStatus.OK, job.wait(after, LONG_POLL_SECONDS))
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no page {url.path}")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/api/jobs":
            self._submit()
        elif url.path.startswith("/api/jobs/") and url.path.endswith("/cancel"):
            job = self.server.board.get(url.path.removeprefix("/api/jobs/").removesuffix("/cancel"))
            if job is None:
                return self._error(HTTPStatus.NOT_FOUND, "no such job (the server was restarted or it expired)")
            job.cancel()
            self._json(HTTPStatus.OK, {"cancelled": job.id})
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no action {url.path}")

    def _discard(self, length: int) -> None:
        """Read and drop a refused body (in 1 MB pieces), so the client reads the answer instead of a broken pipe;
        one over 16 times the limit is not read and the connection is closed after the answer."""
        if length > 16 * MAX_REQUEST_BYTES:
            self.close_connection = True
            return
        while length > 0:
            piece = self.rfile.read(min(length, 2**20))
            if not piece:
                break
            length -= len(piece)

    def _submit(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return self._error(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        if length > MAX_REQUEST_BYTES:
            self._discard(length)
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"the upload is {length / 2**20:.0f} MB, more than the app's limit of "
                               f"{MAX_REQUEST_BYTES / 2**20:.0f} MB; send a smaller image file")
        try:
            request = json.loads(self.rfile.read(length) or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._error(HTTPStatus.BAD_REQUEST, "the request is not JSON")
        try:
            form = read_form(request)
            prepared = prepare_image(form)
        except ValueError as exc:  # DataError included: the CLI's message for a bad image
            return self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except Exception as exc:  # a bug: answer the page, keep the server up, print the traceback
            traceback.print_exc(file=sys.stderr)
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR,
                               f"internal error ({type(exc).__name__}: {exc}); see the server's log")
        work = (transmit_work if form.task == "transmit" else curve_work)(form, prepared, self.server.cache)
        job = self.server.board.submit(form.task, work)
        self._json(HTTPStatus.OK, {"job": job.id, "original": data_url(prepared.image), "source": prepared.source,
                                   "notes": prepared.notes, "size": form.size,
                                   "height": prepared.image.shape[-2], "width": prepared.image.shape[-1]})


def make_server(host: str = "127.0.0.1", port: int = 0, quiet: bool = False, warm: str | None = None) -> AppServer:
    """A server bound to ``host:port`` (port 0: a free one; see ``server.url``); call ``serve_forever()``.

    ``warm``: a scheme spec to load (with the metrics' networks) on the worker right away.
    """
    return AppServer((host, port), quiet=quiet, warm=warm)
