"""CML in a repository's CI files: where ``iterative/setup-cml`` is used or ``cml ...`` runs (for `doctor` and `import dvc`).

flowtide has no CML importer: its own workflows (``flowtide ci generate``) do what
CML's hand-written steps did (metrics diff as a PR comment, reports as job
summaries, training jobs), so the importer only points at that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_USES = re.compile(r"iterative/setup-cml|iterative/cml\b")
_RUN = re.compile(
    r"(^|[\s;&|:'\"-])cml(-send-comment|-publish|-runner|\s+(comment|publish|runner|pr|tensorboard|send-comment|check|asset|workflow))\b"
)
_FILES = (".github/workflows/*.yml", ".github/workflows/*.yaml", ".gitlab-ci.yml", "bitbucket-pipelines.yml")

POINTER = (
    "`flowtide ci generate` writes workflows that do what these CML steps do (the metrics diff as a pull-request "
    "comment and job summary, training, deployment, monitoring); see docs/migrate.md."
)


@dataclass
class CmlUse:
    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


def find_cml(root: str | Path) -> list[CmlUse]:
    """Every line of the project's CI files that sets up or runs CML."""
    root = Path(root)
    found: list[CmlUse] = []
    for pattern in _FILES:
        for path in sorted(root.glob(pattern)):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if _USES.search(line) or _RUN.search(line):
                    found.append(CmlUse(path.relative_to(root).as_posix(), number, line.strip()[:120]))
    return found
