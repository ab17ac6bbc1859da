"""A project: its root, typed config, lock, store and local state, loaded once and passed down."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .config import CONFIG_FILE, LOCK_FILE, STATE_DIR, Config, find_root, load_config, load_params
from .errors import FlowtideError, UsageError
from .hashing import StatCache
from .lock import Lock
from .store import Store
from .validators import ESCAPE_HINT, escapes, path_problem


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

    @cached_property
    def stat_cache(self) -> StatCache:
        return StatCache(self.state_dir / "tmp" / "statcache.json")

    def params(self) -> dict:
        return load_params(self.root, self.config.params)

    # -- lock -----------------------------------------------------------------

    def read_lock(self) -> Lock:
        return Lock.load(self.lock_path)

    def write_lock(self, lock: Lock) -> bool:
        return lock.save(self.lock_path)

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
    def mutex(self, name: str = "project", *, timeout: float | None = None) -> Iterator[None]:
        """Hold an exclusive OS lock for ``name`` (released even on kill -9).

        ``timeout=None`` waits forever; ``0`` fails at once if another process holds it.
        """
        path = self.state_dir / f"{name}.mutex"
        handle = open(path, "a+")
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if deadline is not None and time.monotonic() >= deadline:
                        handle.seek(0)
                        holder = handle.read().strip() or "another flowtide process"
                        raise FlowtideError(
                            f"{name} is busy: {holder} holds {path}",
                            hint="Wait for it to finish, or pass a longer --wait.",
                        ) from None
                    time.sleep(0.05)
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
