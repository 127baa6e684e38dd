"""Ctrl-C and SIGTERM during a run: the first asks the runner to stop at the next chunk
boundary (with a checkpoint), a second stops at once; while the final files are written, a
signal waits for them."""

from __future__ import annotations

import contextlib
import signal
import threading

from rich.console import Console


class Interrupted(Exception):
    """A signal asked the run to stop; it stopped at a chunk boundary with a checkpoint."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopRequests:
    """What the signals asked: ``stop`` (the first signal's number, or None) and whether the
    run is ``finishing`` (writing its final files, which a signal must not cut)."""

    def __init__(self, console: Console):
        self.console = console
        self.stop: int | None = None
        self.finishing = False

    def check(self) -> None:
        """Raises ``Interrupted`` at a chunk boundary once a signal asked to stop."""
        if self.stop is not None:
            raise Interrupted(self.stop)

    @contextlib.contextmanager
    def installed(self):
        """SIGINT and SIGTERM handlers for the duration of the run; only in the main thread
        (Python's rule)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def ask(signum, frame):
            if self.finishing:  # writing the final files: let it finish
                self.console.print("finishing the run's files; a moment")
                return
            if self.stop is not None:
                raise KeyboardInterrupt
            self.stop = signum
            self.console.print(
                f"[bold]{signal.Signals(signum).name}[/]: stopping after this chunk "
                "(with a checkpoint); again to stop at once"
            )

        previous = {s: signal.signal(s, ask) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
