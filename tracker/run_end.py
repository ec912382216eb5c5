"""How a run ends when nobody calls ``close()``: the seed's loop never does, Ctrl-C and SIGTERM skip it.

Installed when a run starts and removed when it ends, never at import (a library does not change a process's
hooks because it was imported):

* an ``atexit`` hook closes the run at interpreter exit, with the status the exit implies (``exit_status``);
* a SIGTERM handler (main thread only) notes that the run was stopped on purpose, then does what the previous
  handler did: calls it if it was a function; if it was the default (terminate), raises ``SystemExit(143)`` so
  that the program unwinds (``finally`` blocks, the exit hook) instead of vanishing mid-write. An ignored SIGTERM
  stays ignored. SIGINT needs no handler: Python already turns it into ``KeyboardInterrupt``.

The status of a run ended by an exception: ``stopped`` for KeyboardInterrupt (Ctrl-C) and SIGTERM, ``failed`` for
anything else. At exit the uncaught exception is read from ``sys.last_value`` (set by the interpreter before it
prints the traceback), so ``sys.excepthook`` is never replaced.
"""

from __future__ import annotations

import atexit
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from tracker.schema import RunStatus

logger = logging.getLogger("tracker")

SIGTERM_EXIT_CODE = 128 + int(signal.SIGTERM)


def status_for_exception(exc: BaseException | None, stop_requested: bool = False) -> RunStatus:
    """The status of a run that ended with ``exc`` propagating (None: it ended normally)."""
    if stop_requested or isinstance(exc, KeyboardInterrupt):
        return "stopped"
    if exc is None:
        return "finished"
    if isinstance(exc, SystemExit):
        return "finished" if exc.code in (None, 0) else "failed"
    return "failed"


class RunEndHooks:
    """The exit hook and the SIGTERM handler of one live run; ``install()`` at its start, ``uninstall()`` at its end.

    ``on_exit(status)`` is called at interpreter exit if the run is still open then.
    """

    def __init__(self, on_exit: Callable[[RunStatus], None]) -> None:
        self._on_exit = on_exit
        self._installed = False
        self._previous_sigterm: Any = None
        self._handler_installed = False
        self.stop_signal: int | None = None  # the signal that stopped the run, once one came

    @property
    def stop_requested(self) -> bool:
        return self.stop_signal is not None

    def install(self) -> None:
        if self._installed:
            return
        self._installed = True
        atexit.register(self._at_exit)
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        try:
            previous = signal.getsignal(signal.SIGTERM)
            if previous == signal.SIG_IGN:
                return
            self._previous_sigterm = previous
            signal.signal(signal.SIGTERM, self._on_sigterm)
            self._handler_installed = True
        except (ValueError, OSError):  # not the main interpreter, or no signals here
            self._handler_installed = False

    def uninstall(self) -> None:
        if not self._installed:
            return
        self._installed = False
        atexit.unregister(self._at_exit)
        if self._handler_installed:
            self._handler_installed = False
            # Restored only if ours is still the handler: one installed on top of it keeps its place (and
            # chains to ours, which then only passes the signal on).
            try:
                if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
                    signal.signal(signal.SIGTERM, self._previous_sigterm)
            except (ValueError, OSError):
                pass

    def exit_status(self) -> RunStatus:
        """The status implied by how the interpreter is exiting (``sys.last_value``: its uncaught exception)."""
        return status_for_exception(getattr(sys, "last_value", None), self.stop_requested)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self._handler_installed:
            self.stop_signal = signum
            logger.warning("received SIGTERM: the run is marked stopped")
        previous = self._previous_sigterm
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            # The default would end the process at once, mid-write, with run.json saying "running".
            raise SystemExit(SIGTERM_EXIT_CODE)

    def _at_exit(self) -> None:
        try:
            self._on_exit(self.exit_status())
        except Exception:
            logger.exception("closing the tracker at exit failed")
