"""The JSON rendering: every field of the report plus its verdict, for ``--json`` and CI artifacts."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Report


def to_dict(report: Report) -> dict[str, Any]:
    data = asdict(report)
    data["ok"] = report.ok
    data["judged"] = report.judged
    data["verdict"] = report.verdict
    data["status"] = report.status
    data["reason"] = report.reason
    data["charts"] = [{**c, "spec": chart.spec()} for c, chart in zip(data["charts"], report.charts, strict=True)]
    return data


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, sort_keys=True, default=str) + "\n"
