"""The monitor's time-window syntax: ``90s``, ``30m``, ``6h``, ``1d``, ``2w`` -> seconds.

Used for ``monitor.window``, ``monitor.cooldown`` and ``predictions://MODEL?window=``.
"""

from __future__ import annotations

import re

from ..errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_window(text: str) -> float:
    """'90s', '30m', '6h', '1d', '2w' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text))
    if not match:
        raise UsageError(f"window {text!r} must look like 30m, 6h, 1d or 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]
