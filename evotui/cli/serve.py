"""`evotui serve DIR`: the same monitor, ``evotui watch DIR``, in a browser, through textual-serve.

Each browser tab gets its own app process (``python -m evotui watch -- DIR``: the command is fixed
here, at startup; see ``web_server`` for what the server lets in). It needs the ``serve`` extra
(textual-serve, which brings aiohttp); the terminal viewer does not.

Safe by default: it listens on 127.0.0.1, reached from elsewhere through ``ssh -L``. Any other
address needs a token, generated here (``secrets``) and printed in the URL unless one is given.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

SERVE_MODULES = ("textual_serve", "aiohttp", "jinja2")
INSTALL_HINT = 'pip install "evotui[serve]"  (from a checkout: pip install -e ".[serve]")'
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_SESSIONS = 8
# Characters that stand as they are in a URL's query and path (RFC 3986 "unreserved"): the printed URL works.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{16,}")  # 16+: the server does not slow down guessers


class ServeError(Exception):
    """A problem the person starting the server can fix; the message says how."""


def missing_serve_modules() -> list[str]:
    return [name for name in SERVE_MODULES if importlib.util.find_spec(name) is None]


def is_loopback(host: str) -> bool:
    """True when every address ``host`` stands for is a loopback address (a name is resolved)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # cannot tell: treat it as reachable from elsewhere
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


@dataclass(frozen=True)
class ServePlan:
    directory: Path  # absolute, resolved once at startup: every app process watches this one
    host: str
    port: int
    token: str | None  # None only on a loopback address
    interval: float
    max_sessions: int

    def app_argv(self) -> list[str]:
        # A list, run with exec: the directory is one argument whatever its characters, after "--" so that
        # a name starting with "-" is not read as an option.
        return [sys.executable, "-m", "evotui", "watch", "--interval", repr(self.interval), "--", str(self.directory)]

    def app_env(self) -> dict[str, str]:
        """The app process imports this same evotui, never a package from its working directory."""
        here = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        return {"PYTHONPATH": here + (os.pathsep + path if path else ""), "PYTHONSAFEPATH": "1"}

    def urls(self) -> list[str]:
        """The URLs to open: the host as given, or this machine's name for a wildcard address."""
        query = f"?token={self.token}" if self.token else ""
        wildcard = self.host in ("0.0.0.0", "::", "")
        hosts = [socket.gethostname(), "127.0.0.1"] if wildcard else [self.host]
        return [f"http://{_url_host(h)}:{self.port}/{query}" for h in hosts]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def plan_serve(
    directory: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    interval: float = 0.5,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
) -> ServePlan:
    """Check what can be checked before listening; raise ServeError with the fix."""
    from evotui.cli.commands import check_watch_path

    missing = missing_serve_modules()
    if missing:
        names = ", ".join(missing)
        verb = "is" if len(missing) == 1 else "are"
        raise ServeError(f"evotui serve needs {names}, which {verb} not installed: {INSTALL_HINT}")
    problem = check_watch_path(directory)
    if problem is not None:
        raise ServeError(problem)
    if token is not None:
        token = token.strip()
        if not TOKEN_PATTERN.fullmatch(token):
            raise ServeError("--token: give at least 16 characters from A-Z a-z 0-9 . _ ~ - (or omit it: one is made)")
    elif not is_loopback(host):
        token = secrets.token_urlsafe(24)
    return ServePlan(directory.resolve(), host, port, token, interval, max_sessions)


def run_serve(plan: ServePlan) -> None:
    import click

    from evotui.analysis.text import visible
    from evotui.cli.web_server import EvotuiServer, ServeConfig

    server = EvotuiServer(
        ServeConfig(
            argv=plan.app_argv(),
            host=plan.host,
            port=plan.port,
            token=plan.token,
            title=f"evotui · {visible(plan.directory.name or str(plan.directory))}",
            max_sessions=plan.max_sessions,
            env=plan.app_env(),
        )
    )

    def on_listening() -> None:
        shown = visible(str(plan.directory))  # a directory's name is shown, never run by this terminal
        click.echo(f"evotui serve: evotui watch {shown} in a browser (one viewer per tab, read-only)")
        for url in plan.urls():
            click.echo(f"  {url}")
        if plan.token is None:
            click.echo(f"  from another machine: ssh -L {plan.port}:localhost:{plan.port} <this machine>,")
            click.echo(f"  then open http://localhost:{plan.port}/ there")
        else:
            click.echo("  anyone who has this URL (its token) can watch the run")
        click.echo("Ctrl+C stops the server.")

    try:
        server.run(on_listening)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {plan.host}:{plan.port}: {exc.strerror or exc}") from None
