"""Claiming a run directory for writing: one writer at a time, and nothing lost on overwrite.

``RunDir.claim(out, overwrite)`` checks ``out`` before any work and locks it
(``runs.RunLock``). A new or empty folder is written in place. With ``overwrite``, an existing
folder must be a plastix run (and not the current folder or one above it); the new run is then
written in a staging folder beside it (``.NAME.new-PID``) while the old run stays as it was, and
``commit`` swaps it in once the new run has its first complete files. A run that fails before
that leaves the old one untouched (``abandon``); a process killed before it leaves a staging
folder that the next claim removes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from plastix import runs
from plastix.errors import ConfigError

RUN_FILES = {
    runs.CONFIG_FILE,
    runs.METRICS_FILE,
    runs.SUMMARY_FILE,
    runs.PARAMS_FILE,
    runs.LOCK_FILE,
    "checkpoint.msgpack",
}


def _entries(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def replaceable(path: Path) -> None:
    """Raises unless ``--overwrite`` may replace ``path``: a plastix run directory that is not
    the current folder or one above it."""
    here = Path.cwd().resolve()
    target = path.resolve()
    if target == here or target in here.parents:
        raise runs.RunExistsError(
            f"--overwrite will not replace {path}: it is the current folder or holds it; "
            "choose another --out"
        )
    foreign = [n for n in _entries(path) if n not in RUN_FILES and not _is_temporary(n)]
    if not (path / runs.CONFIG_FILE).exists() or foreign:
        what = f"it holds {', '.join(foreign[:5])}" if foreign else f"it has no {runs.CONFIG_FILE}"
        raise runs.RunExistsError(
            f"--overwrite only replaces a plastix run directory, and {path} is not one ({what}); "
            "choose another --out"
        )


def _writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the run directory {path}: {e.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write to the run directory {path}: permission denied")


def _remove_stale(path: Path) -> None:
    """Staging folders of earlier claims whose process is gone."""
    for stale in path.parent.glob(f".{path.name}.new-*"):
        if runs.writer_alive(stale) is not True:
            shutil.rmtree(stale, ignore_errors=True)


class RunDir:
    """A run directory this process writes (``path``: where its files go now)."""

    def __init__(self, path: Path, lock: runs.RunLock, final: Path | None = None, old=None):
        self.path = path
        self.lock = lock
        self.final = final
        """the directory a staged run is swapped into (None: written in place)."""
        self.old_lock = old

    @property
    def target(self) -> Path:
        """Where the run will be: its directory once committed."""
        return self.final or self.path

    @classmethod
    def claim(cls, out: str | os.PathLike, overwrite: bool = False) -> RunDir:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise runs.RunExistsError(f"{path} exists and is not a directory")
        if path.exists() and [n for n in _entries(path) if n != runs.LOCK_FILE]:
            if not overwrite:
                raise runs.RunExistsError(
                    f"run directory {path} already exists; choose another --out or pass "
                    "--overwrite to replace it"
                )
            replaceable(path)
            _writable(path.parent)
            old = runs.RunLock(path).acquire()
            try:
                _remove_stale(path)
                staging = path.parent / f".{path.name}.new-{os.getpid()}"
                staging.mkdir()
                return cls(staging, runs.RunLock(staging).acquire(), final=path, old=old)
            except BaseException:
                old.release()
                raise
        _writable(path)
        lock = runs.RunLock(path).acquire()
        if [n for n in _entries(path) if n != runs.LOCK_FILE]:  # written while we looked
            lock.release()
            raise runs.RunExistsError(f"run directory {path} was written by another process")
        return cls(path, lock)

    @classmethod
    def existing(cls, path: str | os.PathLike) -> RunDir:
        """An existing run, claimed to continue it (``resume``)."""
        path = Path(path)
        return cls(path, runs.RunLock(path).acquire())

    @property
    def staged(self) -> bool:
        return self.final is not None

    def commit(self) -> None:
        """Swaps a staged run in for the one it replaces."""
        if not self.staged:
            return
        trash = self.final.parent / f".{self.final.name}.old-{os.getpid()}"
        os.rename(self.final, trash)
        os.rename(self.path, self.final)
        self.path, self.final = self.final, None
        self.old_lock.release()
        self.old_lock = None
        shutil.rmtree(trash, ignore_errors=True)

    def abandon(self) -> None:
        """Drops a staged run that never got its first files (the old run stays)."""
        if self.staged:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path, self.final = self.final, None

    def release(self) -> None:
        self.lock.release()
        if self.old_lock is not None:
            self.old_lock.release()
            self.old_lock = None
