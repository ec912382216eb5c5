"""The read side's layers, checked on the source (every import, also the ones inside functions):

    evotui.cli  ->  evotui.watch  ->  evotui.analysis  ->  tracker (format modules)

``watch`` may use ``analysis``; ``analysis`` may use the tracker's format modules and numpy, never textual or
rich; nothing but ``cli`` imports ``watch``; ``tracker`` imports nothing of ``evotui``. The same contract is
what import-linter's ``layers`` expresses; a source scan needs no extra tool and sees lazy imports too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORMAT_MODULES = {"tracker", "tracker.schema", "tracker.store", "tracker.scoring", "tracker.schedule"}


def imports_of(path: Path) -> set[str]:
    """Every module named by an import statement in ``path`` (absolute imports; the project uses no relative)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # "from evotui.cli import demo" names the module evotui.cli.demo
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules_under(package: str) -> list[Path]:
    return sorted((REPO / package.replace(".", "/")).rglob("*.py"))


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _allowed_in_analysis(name: str) -> bool:
    if any(_under(name, p) for p in ("evotui.watch", "evotui.cli", "textual", "rich", "torch", "transformers")):
        return False
    if _under(name, "tracker"):  # the format, never the capture (torch) side
        return name in FORMAT_MODULES or any(_under(name, m) for m in FORMAT_MODULES - {"tracker"})
    return True


@pytest.mark.parametrize("path", modules_under("evotui.analysis"), ids=lambda p: p.name)
def test_analysis_uses_only_the_format_and_numpy(path: Path) -> None:
    bad = {name for name in imports_of(path) if not _allowed_in_analysis(name)}
    assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", modules_under("evotui.watch"), ids=lambda p: str(p.relative_to(REPO)))
def test_watch_never_imports_the_cli_or_torch(path: Path) -> None:
    bad = {n for n in imports_of(path) if _under(n, "evotui.cli") or _under(n, "torch") or _under(n, "transformers")}
    assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


def test_nothing_but_the_cli_imports_watch() -> None:
    offenders = []
    for package in ("evotui.analysis", "tracker"):
        for path in modules_under(package):
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in imports_of(path) if _under(n, "evotui.watch")]
    assert not offenders


def test_tracker_imports_nothing_of_evotui() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {n}"
        for path in modules_under("tracker")
        for n in imports_of(path)
        if _under(n, "evotui")
    ]
    assert not offenders


def test_the_scan_sees_a_lazy_import(tmp_path: Path) -> None:
    """The contract is only as good as the scan: an import inside a function must be seen."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from evotui.watch.app import make_app\n    import textual.app\n")
    assert {"evotui.watch.app", "evotui.watch.app.make_app", "textual.app"} <= imports_of(source)
    assert not _allowed_in_analysis("evotui.watch.app") and not _allowed_in_analysis("tracker.evaluate")
    assert _allowed_in_analysis("tracker.schema") and _allowed_in_analysis("numpy")
