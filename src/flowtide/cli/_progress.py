"""Rich progress bars on stderr: the CLI's side of the library's ``on_progress`` callback.

``with bars(enabled) as on_progress:`` yields a :class:`flowtide.progress.Progress`
(or None when disabled) that draws one transient bar per label; rich is imported
only when a bar is actually shown.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from flowtide.progress import Progress

PULL_MIN_BYTES = 4 << 20
"""A download of a known size below this gets no bar from `flowtide pull` (it would only flicker)."""


class _RichBars:
    def __init__(self, min_bytes: int) -> None:
        self.min_bytes = min_bytes
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, done_bytes: int, total_bytes: int | None, label: str) -> None:
        if total_bytes is not None and total_bytes < self.min_bytes:
            return  # below this a bar is noise
        with self._lock:
            if self._bar is None:
                self._bar = _start()
            task = self._tasks.get(label)
            if task is None:
                task = self._tasks[label] = self._bar.add_task(label, total=total_bytes)
            self._bar.update(task, completed=done_bytes)
            if total_bytes is not None and done_bytes >= total_bytes:
                self._bar.update(task, visible=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _start():
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    from ._output import human_size

    class _Speed(ProgressColumn):
        """Transfer speed in binary units (rich's own column speaks MB/s)."""

        def render(self, task):
            speed = task.finished_speed or task.speed
            return Text("?" if speed is None else f"{human_size(int(speed))}/s", style="progress.data.speed")

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),  # MiB, as every other size flowtide prints (human_size)
        _Speed(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    bar.start()
    return bar


@contextlib.contextmanager
def bars(enabled: bool, *, min_bytes: int = 1) -> Iterator[Progress | None]:
    """A rich-backed ``on_progress`` while the block runs (None when ``enabled`` is false).

    Downloads of a known size under ``min_bytes`` get no bar.
    """
    if not enabled:
        yield None
        return
    drawer = _RichBars(min_bytes)
    try:
        yield drawer
    finally:
        drawer.close()
