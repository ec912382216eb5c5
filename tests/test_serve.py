"""`evotui serve` without a browser: the access policy, the fixed command, 403s, and an air-gapped page.

The servers here are real `python -m evotui serve` processes. They may listen on 0.0.0.0, but every
request goes to 127.0.0.1: nothing is ever sent to another address.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from click.testing import CliRunner

from evotui.cli import serve
from evotui.cli.commands import main
from tests._serve_helpers import Served
from tests._serve_helpers import serve as start_serve
from tracker.synthetic import write_synthetic_run

TOKEN = "test-token-" + "x" * 20


# -- the plan: no process ----------------------------------------------------------------------------
def test_loopback_needs_no_token_and_any_other_address_gets_one(tmp_path: Path) -> None:
    assert serve.plan_serve(tmp_path).token is None
    assert serve.plan_serve(tmp_path, host="localhost").token is None
    assert serve.plan_serve(tmp_path, host="::1").token is None
    for host in ("0.0.0.0", "::", "192.0.2.7"):
        plan = serve.plan_serve(tmp_path, host=host)
        assert plan.token is not None and len(plan.token) >= 32
        assert all(url.endswith(f"/?token={plan.token}") for url in plan.urls())
    assert serve.plan_serve(tmp_path, host="0.0.0.0").token != serve.plan_serve(tmp_path, host="0.0.0.0").token
    assert serve.plan_serve(tmp_path, host="0.0.0.0", token=TOKEN).token == TOKEN
    assert serve.plan_serve(tmp_path, token=TOKEN).token == TOKEN  # a token on loopback is honoured too


@pytest.mark.parametrize(
    "token",
    [
        "",
        "short",
        "fifteen-chars-x",  # one short of 16
        "has space in it ok",
        "amp&ersand=1-long-x",
        "slash/slash/x-long",
        "ünïcödé-token-long",
    ],
)
def test_a_token_that_would_not_survive_a_url_is_refused(tmp_path: Path, token: str) -> None:
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--host", "0.0.0.0", "--token", token])
    assert result.exit_code != 0 and "--token" in result.output


def test_the_app_command_is_fixed_and_takes_the_directory_as_one_argument(tmp_path: Path) -> None:
    odd = tmp_path / "-run $(touch x); `id` | & > 'q' \"d\""
    plan = serve.plan_serve(odd, interval=0.25)
    assert plan.app_argv() == [sys.executable, "-m", "evotui", "watch", "--interval", "0.25", "--", str(odd.resolve())]
    assert plan.app_env()["PYTHONSAFEPATH"] == "1"  # never imports from the app's working directory


def test_serve_without_its_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A module that is really not installed here stands for a missing textual-serve.
    monkeypatch.setattr(serve, "SERVE_MODULES", ("aiohttp", "evotui_no_such_module"))
    result = CliRunner().invoke(main, ["serve", str(tmp_path)])
    assert result.exit_code != 0
    assert "evotui_no_such_module" in result.output and 'pip install "evotui[serve]"' in result.output
    assert "aiohttp," not in result.output  # installed modules are not blamed


def test_serve_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "step_000000.json").write_text("{}")
    result = CliRunner().invoke(main, ["serve", str(tmp_path / "step_000000.json")])
    assert result.exit_code != 0 and "file" in result.output


# -- the air-gap scan ----------------------------------------------------------------------------------
ABSOLUTE_URL = re.compile(r"""[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>()\\`]+""")
# "//host/..." in a place where a browser loads it: an attribute, url(...), @import, a JS string.
PROTOCOL_RELATIVE = re.compile(r"""(?:=|url\(|@import|["'`])\s*["']?(//[A-Za-z0-9.-]+[^\s"'<>()]*)""")
ASSET_REFERENCE = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']([^"']+)["'])|(?:url\(\s*["']?([^"')]+)["']?\s*\))|(?:@import\s+["']([^"']+)["'])"""
)
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def outside_urls(text: str, origin: str) -> list[str]:
    """Every URL in ``text`` that points anywhere but ``origin`` (scheme://host:port)."""
    found = ABSOLUTE_URL.findall(text) + PROTOCOL_RELATIVE.findall(text)
    allowed = urlsplit(origin)
    outside = []
    for url in found:
        parts = urlsplit(url if "://" in url else "http:" + url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc == allowed.netloc:
            continue
        outside.append(url)
    return outside


def asset_references(text: str) -> list[str]:
    return [next(group for group in match if group) for match in ASSET_REFERENCE.findall(text)]


def test_the_air_gap_scan_finds_every_kind_of_outside_url() -> None:
    origin = "http://127.0.0.1:8123"
    page = """<link rel="stylesheet" href="https://fonts.example/css?family=X"><script src="//cdn.example/a.js">
    </script><img src='http://img.example/a.png'><div style="background: url(https://bg.example/b.png)">
    <a href="static/ok.css">local</a><script>fetch("https://api.example/x"); new WebSocket(`wss://ws.example`)</script>
    <link href="http://127.0.0.1:8123/static/ok.css"><style>@import "//imp.example/c.css";</style>"""
    assert sorted(urlsplit(u if "://" in u else "x:" + u).hostname or "" for u in outside_urls(page, origin)) == [
        "api.example", "bg.example", "cdn.example", "fonts.example", "img.example", "imp.example", "ws.example",
    ]  # fmt: skip
    assert asset_references(page).count("static/ok.css") == 1
    assert outside_urls("see static/x.css and /static/y.js, data:, a // comment", origin) == []


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def websocket_handshake(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    """The status of a websocket handshake (101 starts an app; closing the connection ends it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        return _handshake(connection, path, headers)
    finally:
        connection.close()


def websocket_connection(port: int, path: str = "/ws") -> http.client.HTTPConnection:
    """An open websocket (an app runs behind it until the connection closes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    assert _handshake(connection, path, None) == 101
    return connection


def _handshake(connection: http.client.HTTPConnection, path: str, headers: dict[str, str] | None) -> int:
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
    connection.request("GET", path, headers={**upgrade, **(headers or {})})
    return connection.getresponse().status


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("serve") / "sample"
    write_synthetic_run(run, 8, 3)
    return run


@pytest.fixture(scope="module")
def open_server(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Listening on every interface, with a given token (connected to on 127.0.0.1 only)."""
    with start_serve(sample_run, "--host", "0.0.0.0", "--token", TOKEN, cwd=tmp_path_factory.mktemp("cwd")) as served:
        yield served


@pytest.fixture(scope="module")
def local_server(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The default: 127.0.0.1, no token."""
    with start_serve(sample_run, cwd=tmp_path_factory.mktemp("cwd")) as served:
        yield served


@pytest.mark.slow
def test_a_non_loopback_bind_prints_a_generated_token(sample_run: Path, tmp_path: Path) -> None:
    with start_serve(sample_run, "--host", "0.0.0.0", cwd=tmp_path) as served:
        token = served.token
        assert token is not None and len(token) >= 32
        assert http_get(served.port, "/")[0] == 403
        assert http_get(served.port, f"/?token={token}")[0] == 200


@pytest.mark.slow
def test_the_page_and_the_websocket_want_the_token(open_server: Served) -> None:
    port = open_server.port
    assert open_server.token == TOKEN
    for path in ("/", "/?token=", "/?token=wrong", f"/?token={TOKEN[:-1]}", f"/?token={TOKEN}x", "/?TOKEN=" + TOKEN):
        assert http_get(port, path)[0] == 403, path
    status, headers, body = http_get(port, f"/?token={TOKEN}")
    assert status == 200 and b'id="terminal"' in body
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    for path in ("/ws", "/ws/", "/ws/wrong", f"/ws/{TOKEN[:-1]}", f"/ws?token={TOKEN}"):
        assert websocket_handshake(port, path) == 403, path
    assert websocket_handshake(port, f"/ws/{TOKEN}") == 101


@pytest.mark.slow
def test_without_a_token_only_loopback_names_and_the_own_origin_get_in(local_server: Served) -> None:
    port = local_server.port
    assert local_server.token is None
    assert http_get(port, "/")[0] == 200
    assert http_get(port, "/", {"Host": f"localhost:{port}"})[0] == 200
    assert http_get(port, "/", {"Host": "localhost:9999"})[0] == 200  # ssh -L to another local port
    assert http_get(port, "/", {"Host": "127.0.0.2:9999"})[0] == 200
    assert http_get(port, "/", {"Host": "[::1]:9999"})[0] == 200
    # A DNS-rebinding page: the browser connects to 127.0.0.1 but names its own host.
    assert http_get(port, "/", {"Host": f"evil.example:{port}"})[0] == 403
    assert http_get(port, "/", {"Host": f"127.0.0.1.evil.example:{port}"})[0] == 403
    assert http_get(port, "/", {"Host": f"localhost.evil.example:{port}"})[0] == 403
    assert websocket_handshake(port, "/ws", {"Host": f"evil.example:{port}"}) == 403
    # Another site open in the same browser (cross-site websocket hijacking).
    assert websocket_handshake(port, "/ws", {"Origin": "http://evil.example"}) == 403
    assert websocket_handshake(port, "/ws", {"Origin": "null"}) == 403
    assert websocket_handshake(port, "/ws", {"Origin": "http://[::1"}) == 403  # does not parse
    assert websocket_handshake(port, "/ws", {"Origin": f"http://127.0.0.1:{port}"}) == 101


@pytest.mark.slow
def test_the_page_and_every_asset_it_names_stay_on_the_server(open_server: Served) -> None:
    port = open_server.port
    origin = f"http://127.0.0.1:{port}"
    start = f"{origin}/?token={TOKEN}"
    queue, seen, outside, text_assets = [start], set(), {}, 0
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == origin, f"the page names an outside asset: {url}"
        status, headers, body = http_get(port, parts.path + (f"?{parts.query}" if parts.query else ""))
        assert status == 200, (url, status)
        kind = headers.get("content-type", "")
        if not kind.startswith(("text/", "application/javascript")):
            continue  # fonts and images: fetched, not read
        text_assets += 1
        text = body.decode("utf-8", "replace")
        if "css" in kind:
            text = CSS_COMMENT.sub("", text)  # xterm.css's licence header names project homepages: not loaded
        if found := outside_urls(text, origin):
            outside[url] = found
        queue += [urljoin(url, ref) for ref in asset_references(text) if not ref.startswith(("data:", "#"))]
    assert not outside, f"outside URLs named: {outside}"
    assert text_assets >= 3 and len(seen) >= 5, seen  # the page, its CSS and script, and the fonts


@pytest.mark.slow
def test_static_files_are_served_but_not_listed(open_server: Served) -> None:
    assert http_get(open_server.port, "/static/css/xterm.css")[0] == 200
    assert http_get(open_server.port, "/static/")[0] in (403, 404)
    assert http_get(open_server.port, "/static/../server.py")[0] in (403, 404)


@pytest.mark.slow
def test_viewers_are_limited_and_ctrl_c_stops_the_server_and_its_apps(sample_run: Path, tmp_path: Path) -> None:
    with start_serve(sample_run, "--max-sessions", "2", cwd=tmp_path) as served:
        viewers = [websocket_connection(served.port) for _ in range(2)]  # two apps running
        assert websocket_handshake(served.port, "/ws") == 503  # a third is refused, not started
        group = served.proc.pid
        os.kill(served.proc.pid, signal.SIGINT)  # the server only, as Ctrl+C in its terminal would
        assert served.proc.wait(timeout=60) == 0
        for _ in range(200):  # its apps were asked to quit (killed after a timeout) and reaped
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("a process of the server's group outlived it")
        for viewer in viewers:
            viewer.close()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_the_browser_download_holds_the_bytes_evotui_export_writes(
    sample_run: Path, tmp_path: Path, suffix: str
) -> None:
    import io

    from evotui.analysis.export import export_format, iter_rows, write_rows, write_rows_to
    from evotui.analysis.loader import load_run

    history, _manifest, _errors = load_run(sample_run)
    on_disk = tmp_path / f"rows{suffix}"
    count = write_rows(on_disk, iter_rows(history))
    buffer = io.BytesIO()
    assert write_rows_to(buffer, export_format(on_disk), iter_rows(history)) == count == 8 * 3
    assert buffer.getvalue() == on_disk.read_bytes()
