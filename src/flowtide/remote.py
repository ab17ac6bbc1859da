"""The remote side of the store: any fsspec URL (s3://, gs://, file://).

Stub until the remote-store work lands: ``auto_push`` is the hook that pull,
run and register call after they add blobs; it does nothing without a remote.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .project import Project


def auto_push(project: Project, digests: Iterable[str]) -> None:
    """Upload ``digests`` to the configured remote when ``store.auto_push`` is on; no-op otherwise."""
    if not project.config.store.remote or not project.config.store.auto_push:
        return
