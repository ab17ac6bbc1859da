"""Shipping closed prediction log segments to ``<remote>/predictions/<replica>/``.

Each replica keeps its log on its own disk; once a segment is closed it is copied
to the project's remote store, where ``flowtide monitor`` (on any machine) finds
every replica's segments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def shipper(project: Any, metrics: Any = None):
    """Ship closed log segments to ``<remote>/predictions/<replica>/`` when ``store.remote`` is set (the default).

    The remote is opened through :class:`~flowtide.remote.Remote` (credentials from the
    environment, endpoint_url, paths relative to the project), and a segment appears
    under its final name only once complete (:meth:`~flowtide.remote.Remote.put`). A
    reader (``flowtide monitor``) keeps the segments it copied, so it must never see
    half of one.
    """
    if project is None or not getattr(project.config.store, "remote", None):
        return None
    opened: list[Any] = []

    def ship(path: Path, replica: str) -> None:
        from ..remote import Remote

        try:
            if not opened:
                opened.append(Remote.from_project(project))
            opened[0].put(path, f"predictions/{replica}/{path.name}")
        except Exception:
            if metrics is not None:
                metrics.shipped.labels("failed").inc()
            raise
        if metrics is not None:
            metrics.shipped.labels("ok").inc()

    return ship
