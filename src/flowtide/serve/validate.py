"""Request validation for the prediction endpoint, compiled once from the input schema.

The schema is ``formats.input_schema(project)``: ``{column: {type, not_null, min,
max, in}}``. Checks are plain ``isinstance`` tests precompiled per column so a
row costs a few microseconds; every problem names the field and the reason.
"""

from __future__ import annotations

import datetime as _dt
import math
import sys
from dataclasses import dataclass
from typing import Any

MAX_ROWS = 1000
"""Rows accepted in one batch request."""
_LISTED = 30  # inputs named in the message of an unknown field (the body's "inputs" has them all)


class RequestProblem(Exception):
    """A request the server refuses: HTTP ``status`` plus ``detail`` (field, reason) pairs."""

    def __init__(
        self,
        status: int,
        message: str,
        detail: list[dict[str, str]] | None = None,
        *,
        close: bool = False,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail or []
        self.extra = extra or {}
        """More keys of the answer's body (e.g. the model's inputs when a field is not one)."""
        self.close = close
        """The connection must be closed after the answer (the body was not read to its end)."""
        self.headers = headers or {}

    def header_list(self) -> list[tuple[bytes, bytes]]:
        out = [(k.lower().encode(), v.encode("latin-1")) for k, v in self.headers.items()]
        if self.close:
            out.append((b"connection", b"close"))
        return out

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.detail:
            out["detail"] = self.detail
        out.update(self.extra)
        return out


_FLOAT_MAX = sys.float_info.max
_INT64 = 1 << 63


def _is_number(value: Any) -> bool:
    """A finite float, or an int a float64 can hold (JSON allows 4,300-digit integers; numpy does not)."""
    if type(value) is float:
        return math.isfinite(value)
    return type(value) is int and -_FLOAT_MAX <= value <= _FLOAT_MAX


def _check_int(value: Any) -> str | None:
    if (type(value) is int and -_INT64 <= value < _INT64) or (
        type(value) is float and value.is_integer() and -_INT64 <= value < _INT64
    ):
        return None
    if type(value) in (int, float):
        return f"must be an integer between -2^63 and 2^63-1, got {_show(value)}"
    return f"must be an integer, got {_show(value)}"


def _check_float(value: Any) -> str | None:
    if _is_number(value):
        return None
    if type(value) in (int, float):
        return f"must be a finite number, got {_show(value)}"
    return f"must be a number, got {_show(value)}"


def _check_scalar(value: Any) -> str | None:
    """Any column without a declared type: one JSON value a model can take (no list, object or huge number)."""
    kind = type(value)
    if kind is str or kind is bool or _is_number(value):
        return None
    if kind in (int, float):
        return f"must be a finite number, got {_show(value)}"
    return f"must be a single value, got {_show(value)}"


def _check_str(value: Any) -> str | None:
    return None if type(value) is str else f"must be a string, got {_show(value)}"


def _check_bool(value: Any) -> str | None:
    return None if type(value) is bool else f"must be true or false, got {_show(value)}"


def _check_date(value: Any) -> str | None:
    if type(value) is str and len(value) <= 32:
        try:
            _dt.date.fromisoformat(value[:10])
            return None
        except ValueError:
            pass
    return f"must be an ISO date (YYYY-MM-DD), got {_show(value)}"


def _check_datetime(value: Any) -> str | None:
    if type(value) is str and len(value) <= 40:
        try:
            _dt.datetime.fromisoformat(value)
            return None
        except ValueError:
            pass
    return f"must be an ISO date-time, got {_show(value)}"


_TYPE_CHECKS = {
    "int": _check_int,
    "float": _check_float,
    "str": _check_str,
    "bool": _check_bool,
    "date": _check_date,
    "datetime": _check_datetime,
}


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    if type(value) is int and value.bit_length() > 128:  # the repr of a 4,000-digit int is useless in a message
        try:
            return f"an integer of {len(str(abs(value)))} digits"
        except ValueError:  # past sys.get_int_max_str_digits()
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# the JSON Schema of each column type, with the numeric range the server accepts (a float64's, an int64's)
_NUMBER = {"type": "number", "minimum": -_FLOAT_MAX, "maximum": _FLOAT_MAX}
_OPENAPI_TYPES: dict[str | None, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": -_INT64, "maximum": _INT64 - 1},
    "float": _NUMBER,
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}
_OPENAPI_SCALAR = {"type": ["string", "number", "boolean"], "minimum": -_FLOAT_MAX, "maximum": _FLOAT_MAX}


@dataclass(frozen=True)
class _Field:
    name: str
    required: bool
    not_null: bool
    check: Any  # callable or None
    low: float | None
    high: float | None
    allowed: frozenset | None


class RowValidator:
    """Validates one row or a batch against the input schema; raises RequestProblem(422)."""

    def __init__(
        self,
        schema: dict[str, dict],
        features: list[str] | None = None,
        *,
        extra_fields: str = "reject",
        declared_by: str = "",
    ) -> None:
        self.schema = schema
        self.features = list(features) if features else [c for c in schema]
        self.extra_fields = extra_fields
        self.declared_by = declared_by
        """What declares the inputs (model.features, the model's feature_names_in_, ...): 422s name it."""
        names = list(dict.fromkeys([*self.features, *schema]))
        fields = []
        for name in names:
            rules = schema.get(name) or {}
            kind = rules.get("type")
            allowed = rules.get("in")
            fields.append(
                _Field(
                    name=name,
                    required=name in self.features,
                    # a model input is never null unless the schema says this model takes nulls there
                    not_null=bool(rules.get("not_null")) or (name in self.features and not rules.get("nullable")),
                    check=_TYPE_CHECKS.get(kind, _check_scalar) if kind else _check_scalar,
                    low=rules.get("min") if isinstance(rules.get("min"), (int, float)) else None,
                    high=rules.get("max") if isinstance(rules.get("max"), (int, float)) else None,
                    allowed=frozenset(allowed) if allowed else None,
                )
            )
        self._fields = tuple(fields)
        self._known = frozenset(names)
        shown = ", ".join(names[:_LISTED]) + (f", … ({len(names)} in all)" if len(names) > _LISTED else "")
        self._unknown = f"is not an input of this model; its inputs are {shown}" if names else "is not an input"
        if not names:
            self._unknown += " (this model declares no inputs)"
        elif declared_by:
            self._unknown += f" (declared by {declared_by})"
        self._inputs = {"inputs": names, "inputs_declared_by": declared_by} if declared_by else {"inputs": names}

    def rows(self, payload: Any) -> tuple[list[dict], bool]:
        """The validated rows of a request body and whether it was a batch."""
        if isinstance(payload, dict) and "rows" in payload and len(payload) == 1:
            batch, rows = True, payload["rows"]
            if not isinstance(rows, list):
                raise RequestProblem(422, "invalid request", [{"field": "rows", "reason": "must be a list of objects"}])
        elif isinstance(payload, list):
            batch, rows = True, payload
        elif isinstance(payload, dict):
            batch, rows = False, [payload]
        else:
            raise RequestProblem(
                422,
                "invalid request",
                [{"field": "(body)", "reason": 'must be an object, a list of objects or {"rows": [...]}'}],
            )
        if not rows:
            raise RequestProblem(422, "invalid request", [{"field": "rows", "reason": "must not be empty"}])
        if len(rows) > MAX_ROWS:
            raise RequestProblem(  # 422, not 413: the bytes fit, the content breaks a documented limit
                422, "too many rows", [{"field": "rows", "reason": f"at most {MAX_ROWS} rows per request"}]
            )
        problems: list[dict[str, str]] = []
        for index, row in enumerate(rows):
            where = f"rows[{index}]." if batch else ""
            if not isinstance(row, dict):
                problems.append({"field": where.rstrip(".") or "(body)", "reason": "must be an object"})
            else:
                self._row(row, where, problems)
            if len(problems) >= 10:
                break
        if problems:
            unknown = any(p["reason"] is self._unknown for p in problems)
            raise RequestProblem(422, "invalid request", problems, extra=self._inputs if unknown else None)
        return rows, batch

    def _row(self, row: dict, where: str, problems: list) -> None:
        for f in self._fields:
            if f.name not in row:
                if f.required:
                    problems.append({"field": where + f.name, "reason": "is required"})
                continue
            value = row[f.name]
            if value is None:
                if f.not_null:
                    problems.append({"field": where + f.name, "reason": "must not be null"})
                continue
            if f.check is not None:
                reason = f.check(value)
                if reason:
                    problems.append({"field": where + f.name, "reason": reason})
                    continue
            if f.low is not None and _is_number(value) and value < f.low:
                problems.append({"field": where + f.name, "reason": f"must be >= {f.low:g}, got {value:g}"})
            elif f.high is not None and _is_number(value) and value > f.high:
                problems.append({"field": where + f.name, "reason": f"must be <= {f.high:g}, got {value:g}"})
            elif f.allowed is not None and value not in f.allowed:
                choices = ", ".join(sorted(map(str, f.allowed)))
                problems.append({"field": where + f.name, "reason": f"must be one of {choices}, got {_show(value)}"})
        if self.extra_fields == "reject" and not self._known.issuperset(row):
            for name in row:
                if name not in self._known:
                    problems.append({"field": where + str(name), "reason": self._unknown})

    def openapi_row(self) -> dict:
        """The JSON Schema of one row (for the OpenAPI document)."""
        props: dict[str, dict] = {}
        for f in self._fields:
            rules = self.schema.get(f.name) or {}
            kind = rules.get("type")
            spec = dict(_OPENAPI_TYPES.get(kind, _OPENAPI_SCALAR))
            if f.low is not None:
                spec["minimum"] = max(f.low, spec.get("minimum", f.low))
            if f.high is not None:
                spec["maximum"] = min(f.high, spec.get("maximum", f.high))
            if f.allowed is not None:
                spec["enum"] = sorted(f.allowed, key=str)
            if not f.not_null:
                kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
                spec["type"] = [*kinds, "null"]
            props[f.name] = spec
        return {
            "type": "object",
            "description": "One row of the model's inputs"
            + (f", declared by {self.declared_by}" if self.declared_by else "")
            + ".",
            "properties": props,
            "required": [f.name for f in self._fields if f.required],
            "additionalProperties": self.extra_fields != "reject",
        }
