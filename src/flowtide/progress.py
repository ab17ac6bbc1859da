"""Progress without a UI: the library reports moved bytes through a callback, the CLI draws them.

Anything that can take over a second (a download, a push, a fetch) takes
``on_progress``, a :class:`Progress`: ``on_progress(done_bytes, total_bytes, label)``,
called as bytes move (``total_bytes`` is None when unknown). The default, None,
reports nothing. ``flowtide.cli`` passes one backed by rich progress bars; a
library user can pass any callable (a log line, a tqdm bar, a test's list).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

__all__ = ["Progress", "counter"]


class Progress(Protocol):
    """Told how many bytes of ``label`` moved so far, out of ``total_bytes`` (None: unknown)."""

    def __call__(self, done_bytes: int, total_bytes: int | None, label: str) -> None: ...


class _Counter:
    """Adds up per-chunk increments (from several threads) and reports the running total."""

    def __init__(self, on_progress: Progress, total: int | None, label: str) -> None:
        self._on_progress = on_progress
        self._total = total
        self._label = label
        self._done = 0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        if not n:
            return
        with self._lock:  # serialised, so a UI never sees the running total go backwards
            self._done += n
            self._on_progress(self._done, self._total, self._label)


def counter(on_progress: Progress | None, total: int | None, label: str) -> Callable[[int], None] | None:
    """An ``advance(n)`` that reports to ``on_progress``, or None when nobody listens."""
    return None if on_progress is None else _Counter(on_progress, total, label)
