"""Reference data of a served version: what it was trained on, profiled once (inputs and its own predictions).

Drift is measured against the data in the version's lineage (from the store),
else the current reference file (``model.reference``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..project import Project


def _reference_path(project: Project, version: Any) -> tuple[Path, str | None, str, str] | None:
    """(file, its hash, where it came from, the data path) of the data ``version`` was trained on (from its
    lineage in the store: a blob named by its hash, so its format comes from the data path), else the current
    reference file."""
    model = project.config.model
    if model is None or not model.reference:
        return None
    source = project.config.sources.get(model.reference)
    rel = source.path if source else model.reference
    digest = (version.data or {}).get(rel) if version is not None else None
    if digest and project.store.has(digest):
        return project.store.path_of(digest), digest, f"training data of v{version.version} ({rel})", rel
    path = project.root / rel
    if path.is_file():
        return path, None, f"current {rel}", rel
    return None


class References:
    """Profiles of the reference data (inputs and the model's predictions on it), cached per version."""

    def __init__(self, project: Project, columns: dict[str, str | None]) -> None:
        self.project = project
        self.columns = columns
        self.regressors: set[str] = set()
        """Models whose predictions are numbers (profiled as a numeric column, not as classes)."""
        self._cache: dict[Any, dict | None] = {}

    def of(self, version: Any) -> dict | None:
        key = getattr(version, "hash", None)
        if key not in self._cache:
            self._cache[key] = self._build(version)
        return self._cache[key]

    def _build(self, version: Any) -> dict | None:
        from ..checks._read import detect_format
        from ..checks.drift import profile_values
        from ..checks.reference import Reference, cached_profile, load_columns
        from ..config import NULL_VALUES
        from .performance import is_number

        found = _reference_path(self.project, version)
        if found is None:
            return None
        path, digest, origin, rel = found
        model = self.project.config.model
        suite = self.project.config.checks.get(model.reference) if model and model.reference else None
        fmt = detect_format(rel, suite.format if suite else None)  # a store blob has no extension
        nulls = suite.null_values if suite else NULL_VALUES
        profile = cached_profile(self.project, Reference(path, digest, origin), fmt, self.columns, nulls)
        out = {"origin": origin, "columns": profile["columns"], "predictions": None}
        if version is not None:
            try:
                from ..formats import load_model

                loaded = load_model(self.project, version)
                frame = load_columns(path, fmt, dict.fromkeys(loaded.features), nulls)
                rows = frame.drop_nulls().to_dicts()
                if rows and version.model in self.regressors:
                    out["predictions"] = profile_values(
                        [float(p) for p in loaded.predict(rows) if is_number(p)], "numeric"
                    )
                elif rows:
                    out["predictions"] = profile_values([str(p) for p in loaded.predict(rows)], "categorical")
            except Exception as exc:  # no artifact here: fall back to the label distribution
                out["note"] = f"no reference predictions ({exc})"
        if out["predictions"] is None:
            target = self.project.config.model.target if self.project.config.model else None
            if target and target in profile["columns"]:
                out["predictions"] = profile["columns"][target]
        return out
