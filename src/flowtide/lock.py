"""``flowtide.lock``: what every source and stage was built from and produced.

JSON with sorted keys (a subset of YAML, diff-friendly, parsed in microseconds).
It is rewritten only when its content changes, always atomically, so an
unchanged pull or run leaves it byte-identical and git sees nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_if_changed
from .errors import ConfigError
from .hashing import ALGORITHM

LOCK_VERSION = 1


@dataclass
class Lock:
    """Entries are plain dicts so each layer owns the shape of its own section.

    ``sources[name]``: ``{"url", "path", "hash", "size", "etag"?, "last_modified"?}``
    ``stages[name]``: written by the pipeline (fingerprint, deps, params, outs).
    """

    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = LOCK_VERSION

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Lock:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls()
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(
                f"{path.name} is not valid JSON: {exc}",
                file=path.name,
                hint="Restore it from git (`git checkout -- flowtide.lock`); flowtide writes it atomically, so this is a manual edit or a merge conflict.",
            ) from None
        if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
            raise ConfigError(
                f"{path.name} has an unknown format (version {data.get('version') if isinstance(data, dict) else '?'})",
                file=path.name,
            )
        return cls(sources=data.get("sources", {}), stages=data.get("stages", {}), version=LOCK_VERSION)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "hash": ALGORITHM,
            "sources": self.sources,
            "stages": self.stages,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def save(self, path: str | os.PathLike[str], *, tmp_dir: str | os.PathLike[str] | None = None) -> bool:
        """Write atomically if the content changed; return whether it did."""
        return write_if_changed(path, self.dumps(), tmp_dir=tmp_dir)

    def blobs(self) -> set[str]:
        """Every hash this lock references (sources and stage outputs)."""
        found: set[str] = set()
        for entry in self.sources.values():
            if entry.get("hash"):
                found.add(entry["hash"])
        for entry in self.stages.values():
            for out in (entry.get("outs") or {}).values():
                if isinstance(out, dict) and out.get("hash"):
                    found.add(out["hash"])
                    found.update(child["hash"] for child in out.get("files", {}).values() if isinstance(child, dict))
        return found
