"""A project: its root, typed config, lock, store and local state, loaded once and passed down."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .atomic import is_leftover, owner, remove_leftovers
from .config import CONFIG_FILE, LOCK_FILE, STATE_DIR, Config, find_root, load_config, load_params
from .errors import FlowtideError, UsageError
from .hashing import StatCache
from .lock import Lock
from .store import Store
from .validators import ESCAPE_HINT, escapes, path_problem

REPOSITORY_WAIT = 300.0
"""Seconds pull, run, push, fetch and register wait for a gc to finish (gc itself: its --wait)."""


@dataclass
class Project:
    root: Path
    config: Config
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def load(cls, start: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> Project:
        """Find the project at or above ``start`` and load its config."""
        root = find_root(start)
        return cls(root=root, config=load_config(root), env=dict(os.environ) if env is None else env)

    # -- places ---------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def state_dir(self) -> Path:
        """Local, uncommitted state (cache, run database, stat cache)."""
        path = self.root / STATE_DIR
        path.mkdir(exist_ok=True)
        return path

    @cached_property
    def store(self) -> Store:
        return Store(self.resolve(self.config.store.path, "store path", must_exist=False))

    @property
    def tmp_dir(self) -> Path:
        """Temp files of atomic writes of project files (the lock): out of git's sight, removed if left."""
        return self.state_dir / "tmp" / "writes"

    @cached_property
    def stat_cache(self) -> StatCache:
        return StatCache(self.state_dir / "tmp" / "statcache.json")

    def params(self) -> dict:
        return load_params(self.root, self.config.params)

    # -- lock -----------------------------------------------------------------

    def read_lock(self) -> Lock:
        return Lock.load(self.lock_path)

    def write_lock(self, lock: Lock) -> bool:
        return lock.save(self.lock_path, tmp_dir=self.tmp_dir)

    def update_lock(self, change: Callable[[Lock], None]) -> bool:
        """Re-read the lock, apply ``change`` and write it back under one mutex.

        pull owns ``sources`` and run owns ``stages``; each changes only its part
        of a fresh copy, so concurrent pull and run never lose each other's entries.
        """
        with self.mutex("lockfile"):
            lock = self.read_lock()
            change(lock)
            return self.write_lock(lock)

    # -- paths ----------------------------------------------------------------

    def resolve(self, relative: str, what: str = "path", *, must_exist: bool = False) -> Path:
        """An absolute path for ``relative`` that is guaranteed to stay inside the project.

        The one path rule (:mod:`flowtide.validators`): refuses absolute paths, drive
        letters, ``..`` and symlinks (of the path or any parent) that lead outside the root.
        """
        problem = path_problem(relative)
        if problem:
            raise UsageError(
                f"{what} {relative!r} {problem} {self.root}",
                hint=ESCAPE_HINT if "escapes" in problem else None,
            )
        candidate = self.root / relative
        real = escapes(self.root, candidate)
        if real is not None:
            raise UsageError(
                f"{what} {relative!r} resolves to {real}, outside the project {self.root.resolve()}",
                hint="Paths (and symlinks in them) must stay inside the project directory.",
            )
        if must_exist and not candidate.exists():
            raise UsageError(f"{what} {relative!r} does not exist in {self.root}")
        return candidate

    def relative(self, path: str | os.PathLike[str]) -> str:
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()

    # -- mutual exclusion -----------------------------------------------------

    @contextlib.contextmanager
    def repository(
        self, command: str, *, exclusive: bool = False, timeout: float | None = REPOSITORY_WAIT, sweep: bool = True
    ) -> Iterator[None]:
        """The repository lock: held by every command that adds, moves or deletes blobs.

        pull, run, push, fetch and register hold it shared: they run side by side
        (each has its own mutex where two of a kind would collide). gc holds it
        exclusive: it deletes the blobs nothing references *yet*, which is what a
        blob is between entering the store and being named by the lock or the
        registry. Whoever takes it (with ``sweep``) removes what killed commands
        left behind (partial downloads, temp files), never a file a live process
        is writing.
        """
        what = "gc needs the store to itself" if exclusive else "a `flowtide gc` is deleting unreferenced blobs"
        with self.mutex(
            "repository",
            shared=not exclusive,
            timeout=timeout,
            holder=f"flowtide {command}",
            hint=f"{what}: try again when it has finished"
            + (" (or give gc a longer --wait SECONDS)." if exclusive else "."),
        ):
            if sweep:
                self.remove_leftovers()
            yield

    def remove_leftovers(self) -> int:
        """Delete temp files and partial downloads of flowtide processes that are gone; return how many."""
        state = self.state_dir
        removed = remove_leftovers(self.tmp_dir) + remove_leftovers(state / "tmp" / "pull", "staging.*")
        removed += remove_leftovers(state / "repository.holders")  # records of sharers killed holding the lock
        with contextlib.suppress(FlowtideError):  # a misconfigured store path is reported by whoever uses it
            removed += remove_leftovers(self.store.tmp_dir)
        return removed

    @contextlib.contextmanager
    def mutex(
        self,
        name: str = "project",
        *,
        timeout: float | None = None,
        shared: bool = False,
        holder: str | None = None,
        hint: str | None = None,
    ) -> Iterator[None]:
        """Hold an OS lock for ``name`` (released even on kill -9): exclusive, or ``shared`` with other sharers.

        ``timeout=None`` waits forever; ``0`` fails at once if another process holds it.
        ``holder`` names the command (``flowtide gc``) in the message a waiting process gets.
        """
        path = self.state_dir / f"{name}.mutex"
        handle = open(path, "a+")
        record: Path | None = None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if deadline is not None and time.monotonic() >= deadline:
                        raise FlowtideError(
                            self._busy(name, path, handle, holder),
                            hint=hint or "Wait for it to finish, or pass a longer --wait.",
                        ) from None
                    time.sleep(0.05)
            me = f"pid {os.getpid()}" + (f", {holder}" if holder else "")
            if shared:  # sharers cannot all write the lock file: one record each, beside it
                record = self.state_dir / f"{name}.holders" / f"holder.{owner()}.{next(_SEQUENCE)}"
                try:
                    record.write_text(me)
                except FileNotFoundError:
                    record.parent.mkdir(exist_ok=True)
                    record.write_text(me)
            else:
                handle.seek(0)
                handle.truncate()
                handle.write(me)
                handle.flush()
            yield
        finally:
            if record is not None:
                with contextlib.suppress(OSError):
                    record.unlink()
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def _busy(self, name: str, path: Path, handle, holder: str | None) -> str:
        """Who holds ``name``: a live sharer's record, else what the exclusive holder wrote into the lock file."""
        holders = []
        with contextlib.suppress(OSError):
            for record in sorted((self.state_dir / f"{name}.holders").iterdir()):
                if is_leftover(record, older_than=float("inf")):  # its process is gone (kill -9)
                    record.unlink(missing_ok=True)
                    continue
                with contextlib.suppress(OSError):
                    holders.append(record.read_text().strip())
        if not holders:
            handle.seek(0)
            holders = [handle.read().strip() or "another flowtide process"]
        if holder is None:
            return f"{name} is busy: {holders[0]} holds {path}"
        return f"{name} is busy: another flowtide command holds the {name} lock ({holders[0]})"


_SEQUENCE = itertools.count()
