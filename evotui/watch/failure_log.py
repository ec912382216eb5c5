"""Where failures of background work go: a plain log file, appended to, never rotated by us.

``$EVOTUI_LOG`` when set, else ``$XDG_STATE_HOME/evotui/evotui.log`` (``~/.local/state/evotui/evotui.log``
by default). The header shows a failure's reason; the file keeps its traceback. No textual here:
the run service (a thread) writes here, and ``evotui watch --help`` names the path.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from pathlib import Path

_lock = threading.Lock()


def log_path() -> Path:
    """The log file's path (not created until something fails)."""
    override = os.environ.get("EVOTUI_LOG")
    if override:
        return Path(override).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "evotui" / "evotui.log"


def record_failure(context: str, exc: BaseException) -> Path | None:
    """Append ``context`` and ``exc``'s traceback to the log; the path written, or None when it cannot be."""
    path = log_path()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    lines = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    entry = f"{stamp} pid {os.getpid()} {context}\n{lines}\n"
    try:
        with _lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(entry)
    except OSError:
        return None
    return path
