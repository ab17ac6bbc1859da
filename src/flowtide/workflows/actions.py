"""The pin table: every third-party action a generated workflow uses, by full commit SHA.

Updated in one place (here): bump the SHA and the version together, run
`flowtide ci generate`, and every workflow follows. Each SHA below was checked
against public references (the tag's commit as quoted by Dependabot bumps,
release notes and other projects' pinned workflows) — see the comment on each.
All are current majors that run on node24 (node20 actions are deprecated).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    repo: str
    sha: str
    version: str

    @property
    def uses(self) -> str:
        """The `uses:` value, SHA-pinned, with the version as a trailing YAML comment."""
        return f"{self.repo}@{self.sha} # {self.version}"


PINS: dict[str, Pin] = {
    # v5.0.0: 08c6903c… is quoted as "actions/checkout@… # v5.0.0" by several pinned workflows
    # and pin tables (checked 2026-11 in public sources).
    "checkout": Pin("actions/checkout", "08c6903cd8c0fde910a37f88322edcfb5dd907a8", "v5.0.0"),
    # v6.0.0: e797f83b… appears in Dependabot compare links (…a26af69…e797f83) and pin tables as v6.0.0.
    "setup-python": Pin("actions/setup-python", "e797f83bcb11b83ae66e0230d6156d7c80228e7c", "v6.0.0"),
    # v5.0.0: 330a01c4… quoted as "# v5.0.0" by many pinned workflows and in Dependabot bumps 5.0.0 -> 6.
    "upload-artifact": Pin("actions/upload-artifact", "330a01c490aca151604b8cf639adc76d48f6c5d4", "v5.0.0"),
    # v8.0.0: ed597411… quoted as "# v8.0.0" by several pinned workflows and pin tables.
    "github-script": Pin("actions/github-script", "ed597411d8f924073f98dfc5c65a23a2325f34cd", "v8.0.0"),
    # v3.2.0: bcd2ba49… quoted as "the commit that the tag v3.2.0 points at" and "# v3.2.0" in pinned workflows.
    "create-github-app-token": Pin(
        "actions/create-github-app-token", "bcd2ba49218906704ab6c1aa796996da409d3eb1", "v3.2.0"
    ),
}


def uses(name: str) -> str:
    return PINS[name].uses
