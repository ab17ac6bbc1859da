"""One grammar for spans of time in flowtide.yaml and on the command line.

``90`` (a bare number counts seconds), ``90s``, ``30m``, ``1.5h``, ``7d``, ``2w``:
``monitor.window``, ``monitor.cooldown``, ``deploy.feedback_window``,
``deploy.log_segment``, ``flowtide monitor --window`` and a prediction source's
``?window=`` all read it here, and keep the text as written for messages and workflows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TEXT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")
GRAMMAR = "90 (seconds), 90s, 30m, 1.5h, 7d or 2w"


@dataclass(frozen=True)
class Duration:
    """A span of time: the text as written (``"1.5h"``) and what it means in seconds (5400.0)."""

    text: str
    seconds: float

    def __str__(self) -> str:
        return self.text

    @property
    def whole_seconds(self) -> int:
        """Seconds rounded up, for places that count in whole seconds (a workflow's shell arithmetic)."""
        return math.ceil(self.seconds)

    @classmethod
    def parse(cls, value: Any, *, what: str = "duration", allow_zero: bool = False) -> Duration:
        """``value`` (text, a number of seconds, or a Duration) as a Duration; UsageError says what to write."""
        found = _read(value)
        if isinstance(found, str):
            raise UsageError(f"{what} {value!r} {found}")
        if found.seconds == 0 and not allow_zero:
            raise UsageError(f"{what} {value!r} must be longer than zero")
        return found

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Validate a YAML number or text with :meth:`parse` (zero allowed here; fields that need more say so)."""
        from pydantic_core import PydanticCustomError, core_schema

        def validate(value: Any) -> Duration:
            found = _read(value)
            if isinstance(found, str):
                raise PydanticCustomError("duration", "{problem}", {"problem": f"{value!r} {found}"})
            return found

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict:
        return {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[smhdw]?\s*$"},
                {"type": "number", "minimum": 0},
            ],
            "description": f"A span of time: {GRAMMAR}.",
        }


def _read(value: Any) -> Duration | str:
    """The Duration ``value`` spells, or what is wrong with it."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            return f"must be a positive number of seconds or look like {GRAMMAR}"
        return Duration(str(value), float(value))
    if isinstance(value, str) and (match := _TEXT.fullmatch(value)):
        return Duration(value.strip(), float(match.group(1)) * _UNITS[match.group(2)])
    return f"must look like {GRAMMAR}"
