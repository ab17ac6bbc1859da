"""Schedules the workflows share: crons moved off congested minutes."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowtide.config import Config

_CONGESTED_MINUTES = {0, 15, 30, 45}


def off_minute(cron: str, name: str) -> str:
    """Move a cron off the congested minutes (0, 15, 30, 45) to one picked from ``name``.

    GitHub starts scheduled workflows late (or drops them) at the top of the
    hour, when most schedules fire; a minute derived from the name is stable
    across runs and spreads several sources apart.
    """
    fields = cron.split()
    if len(fields) != 5 or not fields[0].isdigit() or int(fields[0]) not in _CONGESTED_MINUTES:
        return cron
    choices = [m for m in range(60) if m not in _CONGESTED_MINUTES]
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
    return " ".join([str(choices[digest % len(choices)]), *fields[1:]])


def source_schedules(config: Config) -> dict[str, list[str]]:
    """Off-minute cron -> names of the sources pulled on it."""
    crons: dict[str, list[str]] = {}
    for name, source in sorted(config.sources.items()):
        if source.schedule:
            crons.setdefault(off_minute(source.schedule, name), []).append(name)
    return crons
