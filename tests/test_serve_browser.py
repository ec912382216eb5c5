"""`evotui serve` in a real headless Chromium (Debian's, driven by Playwright) on a real toy run.

What the page shows is read from xterm.js's buffer in the page (tests/_serve_helpers.py says how). Every
request the page makes is checked: anything not on the server is recorded and aborted, and Chromium
resolves no host name but 127.0.0.1, so nothing ever leaves the machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._serve_helpers import (
    TERMINAL_HOOK,
    TOY_STEPS,
    chromium_path,
    focus_terminal,
    header_shows_step,
    launch_chromium,
    make_toy_run,
    serve,
    wait_for_screen,
)

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api")
VIEWPORT = {"width": 1280, "height": 760}
HELP_LINE = "data map: variability against confidence"  # a row of evotui's help screen


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_toy_run(tmp_path_factory.mktemp("toy") / "toy-run")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium in CI: .ci/run installs Debian's chromium package")
        pytest.skip("no chromium here (apt-get install -y chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """A fresh browser context on one server: its page, and every request that was not for the server."""

    def __init__(self, browser: Any, port: int) -> None:
        self.origin = f"http://127.0.0.1:{port}"
        self.outside: list[str] = []
        self.sockets: list[str] = []
        self.context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        self.context.add_init_script(TERMINAL_HOOK)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("websocket", lambda socket: self.sockets.append(socket.url))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url == self.origin or url.startswith(self.origin + "/"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    pages: list[Page] = []

    def open_on(port: int) -> Page:
        pages.append(Page(browser, port))
        return pages[-1]

    yield open_on
    for page in pages:
        page.close()


def test_the_page_runs_the_app_and_a_key_typed_in_it_acts(toy_run: Path, tmp_path: Path, open_page: Any) -> None:
    with serve(toy_run, cwd=tmp_path) as served:
        view = open_page(served.port)
        response = view.page.goto(served.url)
        assert response is not None and response.status == 200
        lines = wait_for_screen(view.page, header_shows_step(TOY_STEPS))
        assert "toy_addition" in lines[0]  # the run's name, from its run.json
        assert not any(HELP_LINE in line for line in lines)
        focus_terminal(view.page)
        view.page.keyboard.press("?")
        wait_for_screen(view.page, lambda lines: any(HELP_LINE in line for line in lines))
        view.page.keyboard.press("Escape")
        wait_for_screen(view.page, lambda lines: not any(HELP_LINE in line for line in lines))
        assert view.outside == []
        assert len(view.sockets) == 1 and view.sockets[0].startswith(f"ws://127.0.0.1:{served.port}/ws?")


def test_with_a_token_the_page_works_and_without_it_is_refused(toy_run: Path, tmp_path: Path, open_page: Any) -> None:
    with serve(toy_run, "--host", "0.0.0.0", cwd=tmp_path) as served:
        assert served.token is not None
        view = open_page(served.port)
        refused = view.page.goto(f"http://127.0.0.1:{served.port}/")
        assert refused is not None and refused.status == 403
        response = view.page.goto(served.url)
        assert response is not None and response.status == 200
        wait_for_screen(view.page, header_shows_step(TOY_STEPS))
        assert view.outside == []
        assert len(view.sockets) == 1 and view.sockets[0].startswith(f"ws://127.0.0.1:{served.port}/ws/{served.token}?")


def test_a_directory_named_with_shell_metacharacters_is_served_as_it_is(
    toy_run: Path, tmp_path: Path, open_page: Any
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    name = "run $(touch PWNED1); touch PWNED2 `touch PWNED3` | touch PWNED4 & 'q' \"d\" <b>x &amp; -- \\ *"
    run = shutil.copytree(toy_run, tmp_path / name)
    with serve(run, cwd=cwd) as served:
        view = open_page(served.port)
        view.page.goto(served.url)
        wait_for_screen(view.page, header_shows_step(TOY_STEPS))
        assert view.page.title() == f"evotui · {name}"  # text, not markup
    assert sorted(p.name for p in tmp_path.rglob("PWNED*")) == []
    assert sorted(p.name for p in Path.cwd().glob("PWNED*")) == []


def test_export_in_the_browser_is_a_download_and_writes_nothing_on_the_server(
    toy_run: Path, tmp_path: Path, open_page: Any
) -> None:
    run_files = sorted((p.name, p.stat().st_mtime_ns) for p in toy_run.iterdir())
    with serve(toy_run, cwd=tmp_path) as served:
        view = open_page(served.port)
        downloads: dict[str, Any] = {}
        # textual.js opens each download in a new tab; Playwright may report it on that tab, the opener, or both.
        view.page.on("download", lambda d: downloads.setdefault(d.url, d))
        view.context.on("page", lambda page: page.on("download", lambda d: downloads.setdefault(d.url, d)))
        view.page.goto(served.url)
        wait_for_screen(view.page, header_shows_step(TOY_STEPS))
        focus_terminal(view.page)
        view.page.keyboard.press("e")
        wait_for_screen(view.page, lambda lines: any("a download in your browser" in line for line in lines))
        view.page.keyboard.press("Enter")
        wait_for_screen(view.page, lambda lines: any("rows sent to your browser" in line for line in lines))
        for _ in range(600):  # bounded: 600 x 50 ms
            if downloads:
                break
            view.page.wait_for_timeout(50)
        assert len(downloads) == 1
        (download,) = downloads.values()
        assert download.suggested_filename.endswith(".csv")
        lines = Path(download.path()).read_text().splitlines()
        assert lines[0].startswith("step,example_id,")
        assert len(lines) == 1 + 12 * 3  # a row per example per snapshot (12 examples, steps 0, 20, 40)
        assert view.outside == []
    assert sorted(p.name for p in tmp_path.rglob("*") if p.suffix in (".csv", ".jsonl")) == []
    assert sorted((p.name, p.stat().st_mtime_ns) for p in toy_run.iterdir()) == run_files


VIOLATIONS_HOOK = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => window.__violations.push(event.blockedURI));
"""


def test_a_crafted_link_cannot_make_the_page_fetch_from_elsewhere(tmp_path: Path, open_page: Any) -> None:
    # textual.js fetches the URL given as ?ping= before it connects; the page's Content-Security-Policy stops it
    # in the browser, before any request is made (the route below would otherwise record it).
    run = tmp_path / "run"
    run.mkdir()
    with serve(run, cwd=tmp_path) as served:
        view = open_page(served.port)
        view.context.add_init_script(VIOLATIONS_HOOK)
        beacon = "http://outside.example/beacon"
        response = view.page.goto(f"{served.url}?ping={beacon}")
        assert response is not None and response.status == 200
        violations: list[str] = []
        for _ in range(600):  # bounded: until the browser blocks it, or the request goes out
            violations = view.page.evaluate("() => window.__violations")
            if violations or view.outside:
                break
            view.page.wait_for_timeout(50)
        assert view.outside == []
        assert violations == [beacon]
