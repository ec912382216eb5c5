"""The web side of `evotui serve`: textual-serve's page and app processes, made safe to expose.

textual-serve runs one app process per browser websocket and relays its terminal to xterm.js in the
page. We keep its process protocol (``AppService``), its static files (textual.js, xterm.css, the
Roboto Mono fonts) and its download relay, and change what it leaves open:

- The app process. textual-serve starts its ``command`` string with ``create_subprocess_shell``.
  Here the command is an argv list that evotui builds at startup (``sys.executable -m evotui watch
  -- DIR``, the directory resolved once) and it is started with exec, never through a shell: no
  part of a request reaches a shell or an argument (``FixedAppService``).
- The page. Our own template (``templates/serve.html``, derived from textual-serve's, MIT) names no
  outside URL (the stock page links a public web-font CDN; the Roboto Mono that textual-serve ships
  is served from /static instead) and no absolute URL at all: the websocket URL is built in the
  page from its own address, so a page reached through ``ssh -L`` on any local port works. A
  Content-Security-Policy lets the page load and connect to its own origin only.
- Access (``refusal``). With a token, the page wants ``?token=`` and the websocket ``/ws/<token>``
  (textual.js appends its own query string to the websocket URL, so the token travels in the path),
  compared with ``hmac.compare_digest``; anything else is a 403. Without a token (loopback binds
  only) the Host header must name a loopback host, so a DNS-rebinding page cannot reach the server.
  Always, a websocket's Origin must be the page's own: another site open in the same browser
  cannot drive a viewer (cross-site websocket hijacking).
- Limits. At most ``max_sessions`` app processes at a time (each holds a run in memory); terminal
  sizes from the browser are clamped; a malformed message is ignored instead of ending the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import secrets
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import WSCloseCode, WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.server import Server

TEMPLATES = Path(__file__).with_name("templates")
TOKEN_ENV = "EVOTUI_SERVE_TOKEN"
# A terminal of these sizes is plenty; a huge one would make the app allocate a huge screen.
COLUMNS_RANGE = (20, 500)
ROWS_RANGE = (5, 200)
STOP_TIMEOUT = 5.0
SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}

log = logging.getLogger("evotui.serve")


@dataclass
class ServeConfig:
    argv: list[str]  # the app process, fixed at startup
    host: str
    port: int
    token: str | None  # None: no token (loopback only)
    title: str
    max_sessions: int = 8
    env: dict[str, str] = field(default_factory=dict)  # added to the app process's environment


def clamp(value: object, default: int, bounds: tuple[int, int]) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = default
    return max(bounds[0], min(number, bounds[1]))


def token_matches(given: str | None, expected: str) -> bool:
    """Constant time in the token's content; bytes, because compare_digest refuses non-ASCII str."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def hostname_of(netloc: str) -> str | None:
    """'localhost:8000' -> 'localhost', '[::1]:8000' -> '::1'; None when it does not parse."""
    try:
        return urlsplit("//" + netloc).hostname
    except ValueError:
        return None


def netloc_of(url: str) -> str | None:
    """'http://localhost:8000' -> 'localhost:8000'; None for 'null' or what does not parse."""
    try:
        return urlsplit(url).netloc.lower() or None
    except ValueError:
        return None


def is_loopback_name(hostname: str | None) -> bool:
    """A Host header's name that can only mean this machine: localhost, or a loopback address."""
    if hostname is None:
        return False
    if hostname == "localhost" or hostname.endswith(".localhost"):  # RFC 6761: never resolved elsewhere
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def content_security_policy(nonce: str) -> str:
    # 'self' in connect-src covers the page's own ws:// origin (CSP Level 3). Styles: textual.js inserts
    # <style> elements at run time, hence 'unsafe-inline' for styles only; scripts need the nonce.
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            "font-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


class FixedAppService(AppService):
    """textual-serve's AppService, but the app is started from a fixed argv with exec, no shell."""

    def __init__(self, argv: list[str], extra_env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(shlex.join(argv), **kwargs)
        self.argv = list(argv)
        self.extra_env = extra_env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        environment.pop(TOKEN_ENV, None)  # the app has no use for the secret
        environment.update(self.extra_env)
        return environment

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        environment = self._build_environment(width=width, height=height)
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    async def stop(self) -> None:
        """Ask the app to quit; kill it if it has not gone within STOP_TIMEOUT; always reap it."""
        try:
            await asyncio.wait_for(super().stop(), STOP_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            process = self._process
            if process is not None:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                await process.wait()


class EvotuiServer(Server):
    """textual-serve's Server with evotui's page, access checks and fixed app command."""

    def __init__(self, config: ServeConfig) -> None:
        super().__init__(shlex.join(config.argv), host=config.host, port=config.port, title=config.title)
        self.config = config
        self.pages = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
        self.sessions: set[FixedAppService] = set()
        self.websockets: set[web.WebSocketResponse] = set()

    # -- access ----------------------------------------------------------------------------------
    def refusal(self, request: web.Request) -> str | None:
        """Why this request is refused (a 403), or None."""
        token = self.config.token
        if token is None and not is_loopback_name(hostname_of(request.host)):
            return "this server answers to localhost only (start evotui serve with --token to allow other names)"
        is_websocket = request.path == "/ws" or request.path.startswith("/ws/")
        if is_websocket:
            origin = request.headers.get("Origin")
            if origin is not None and netloc_of(origin) != request.host.lower():
                return "a viewer can be opened from this server's own page only"
        if token is None:
            return None
        if request.path == "/":
            given = request.query.get("token")
        elif is_websocket:
            given = request.match_info.get("token")
        else:  # /static: textual-serve's public files; /download/<key>: the random key is the secret
            return None
        if not token_matches(given, token):
            return "a token is needed: open the URL that evotui serve printed"
        return None

    @web.middleware
    async def guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        problem = self.refusal(request)
        response = web.Response(status=403, text=f"403: {problem}\n") if problem else await handler(request)
        if not response.prepared:  # a websocket has sent its headers by the time its handler returns
            response.headers.update(SECURITY_HEADERS)
        return response

    # -- routes ----------------------------------------------------------------------------------
    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        app.add_routes(
            [
                web.get("/", self.handle_index),
                web.get("/ws", self.handle_websocket),
                web.get("/ws/{token}", self.handle_websocket),
                web.get("/download/{key}", self.handle_download),
                web.static("/static", self.statics_path, show_index=False),
            ]
        )
        app.on_shutdown.append(self.close_sessions)
        return app

    async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
        nonce = secrets.token_urlsafe(16)
        page = self.pages.get_template("serve.html").render(
            title=self.title,
            nonce=nonce,
            font_size=clamp(request.query.get("fontsize"), 16, (6, 48)),
        )
        response = web.Response(text=page, content_type="text/html")
        response.headers["Content-Security-Policy"] = content_security_policy(nonce)
        response.headers["Cache-Control"] = "no-store"  # the token is in its URL
        return response

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        if len(self.sessions) >= self.config.max_sessions:
            return web.Response(
                status=503,
                text=f"503: {len(self.sessions)} viewers are open already (--max-sessions); close one\n",
            )
        width = clamp(request.query.get("width"), 80, COLUMNS_RANGE)
        height = clamp(request.query.get("height"), 24, ROWS_RANGE)
        websocket = web.WebSocketResponse(heartbeat=15)
        service = FixedAppService(
            self.config.argv,
            self.config.env,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
        )
        self.sessions.add(service)  # counted before the first await: the limit holds under a burst
        try:
            await websocket.prepare(request)
            self.websockets.add(websocket)
            await service.start(width, height)
            await self._process_messages(websocket, service)
        finally:
            self.websockets.discard(websocket)
            self.sessions.discard(service)
            await service.stop()
        return websocket

    async def _process_messages(self, websocket: web.WebSocketResponse, app_service: AppService) -> None:
        """The browser's messages to the app: keys, resizes, focus; pings answered here."""
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                envelope = json.loads(message.data)
            except ValueError:
                continue
            if not isinstance(envelope, list) or not envelope:
                continue
            kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
            if kind == "stdin" and isinstance(data, str):
                await app_service.send_bytes(data.encode("utf-8", "replace"))
            elif kind == "resize" and isinstance(data, dict):
                await app_service.set_terminal_size(
                    clamp(data.get("width"), 80, COLUMNS_RANGE), clamp(data.get("height"), 24, ROWS_RANGE)
                )
            elif kind == "ping":
                await websocket.send_json(["pong", data])
            elif kind == "blur":
                await app_service.blur()
            elif kind == "focus":
                await app_service.focus()

    async def close_sessions(self, _app: web.Application) -> None:
        """On shutdown: stop every app process and close its websocket (aiohttp would wait for them)."""
        for service in list(self.sessions):
            await service.stop()
        for websocket in list(self.websockets):
            await websocket.close(code=WSCloseCode.GOING_AWAY, message=b"evotui serve stopped")

    def run(self, on_listening: Callable[[], None]) -> None:
        """Serve until SIGINT or SIGTERM; ``on_listening`` is called once the socket accepts."""
        # textual-serve reports an app that failed to start on its logger; no access log (URLs hold the token).
        logging.basicConfig(level=logging.WARNING, format="evotui serve: %(message)s")
        web.run_app(
            self._make_app(),
            host=self.config.host,
            port=self.config.port,
            print=lambda _message: on_listening(),
            access_log=None,
            shutdown_timeout=STOP_TIMEOUT,
            handle_signals=True,
        )
