"""The `evotui` program's entry point: for `evotui watch DIR`, the bulk read's worker starts before the
command line library and the app are imported.

Why here: a cold start waits for the worker's first replies (``evotui.watch.bulk_read``), and the worker
needs ~0.15 s to start; every import before it starts is on the critical path. So the arguments are
looked at first, conservatively: one run directory after ``watch`` and known options only; anything
else (a comparison, ``--help``, an unknown option) leaves it to the command, which starts the worker
itself when worth it. Parsing stays click's: this only guesses early, and a wrong guess costs a worker
that ends with this process (its input closes).

The cyclic collector is paused while `evotui watch` imports (``startup_imports_done``).
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

WATCH_OPTIONS_WITH_VALUE = {"--interval", "--alerts"}
WATCH_FLAGS = {"--bell"}


def watched_directory(argv: list[str]) -> Path | None:
    """The one run directory of ``evotui watch [options] DIR`` in ``argv`` (without the program), or None."""
    if not argv or argv[0] != "watch":
        return None
    positionals: list[str] = []
    args = iter(argv[1:])
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in WATCH_OPTIONS_WITH_VALUE:
            if "=" not in arg and next(args, None) is None:
                return None
        elif arg in WATCH_FLAGS:
            continue
        elif arg.startswith("-"):
            return None  # --help, --version, an unknown option: the command decides
        else:
            positionals.append(arg)
    if len(positionals) != 1:
        return None
    directory = Path(positionals[0])
    return directory if directory.is_dir() else None


# Importing textual, numpy and the app makes ~200,000 objects that live as long as the program (modules,
# classes, functions). With the collector on, it walked them ~100 times before the first frame (28 ms of a
# 0.5 s cold start in tmux, `gc.callbacks`) and found nothing to free. So for `evotui watch` it is paused
# from here until the command has imported the app, all of it on the main thread while no other thread
# exists (the command turns it on before making the app, whose run service starts a thread); then the
# objects made so far go to the permanent generation (``gc.freeze``: later collections skip them) and
# the collector is on again, for good (``main`` turns it on whatever happens). Cost: the little cyclic
# garbage the imports make is never freed. The app sets its own thresholds while it runs.
_collector_paused = False


def startup_imports_done() -> None:
    """The `watch` command has imported what it runs: freeze what the imports made, collector back on."""
    global _collector_paused
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()


def main() -> None:
    global _collector_paused
    argv = sys.argv[1:]
    if argv[:1] == ["watch"] and gc.isenabled():
        gc.disable()
        _collector_paused = True
    try:
        directory = watched_directory(argv)
        if directory is not None:
            from evotui.watch.bulk_read import start_early_read

            start_early_read(directory)
        from evotui.cli.commands import main as cli_main

        cli_main()
    finally:
        if _collector_paused:  # the command ended before its imports (a bad argument...)
            _collector_paused = False
            gc.enable()
