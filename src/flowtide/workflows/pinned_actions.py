"""The pin table: every third-party action a generated workflow uses, by full commit SHA.

Updated in one place (here): bump the SHA and the version together, run
`flowtide ci generate`, and every workflow follows. Each SHA below was checked
against public references (the tag's commit as quoted by Dependabot bumps,
release notes and other projects' pinned workflows) — see the comment on each.
All are current majors that run on node24 (node20 actions are deprecated). Not verified
here: anything beyond these public references (there is no GitHub access on this machine).
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
    # v6.0.0 (the first major whose action.yml says node24; v5 still ran on node20 by default):
    # b7c566a7… is the target of Dependabot's "5.0.0 to 6.0.0" compare link and in other pin tables.
    "upload-artifact": Pin("actions/upload-artifact", "b7c566a772e6b6bfb58ed0dc250532a479d7789f", "v6.0.0"),
    # v7.0.0 (node24, like upload-artifact v6): 37930b1c… is the target of Dependabot's "6.0.0 to 7.0.0"
    # compare link and listed as v7 in other pin tables.
    "download-artifact": Pin("actions/download-artifact", "37930b1c2abaa49bbe596cd826c3c89aef350131", "v7.0.0"),
    # v8.0.0: ed597411… quoted as "# v8.0.0" by several pinned workflows and pin tables.
    "github-script": Pin("actions/github-script", "ed597411d8f924073f98dfc5c65a23a2325f34cd", "v8.0.0"),
    # v3.2.0 (node24 since v3.0.0): bcd2ba49… quoted as "the commit that the tag v3.2.0 points at" and
    # "# v3.2.0" in pinned workflows. Since v3.1.0 `app-id` is deprecated in favour of `client-id` but
    # still accepted; the workflows pass secrets.FLOWTIDE_APP_ID as `app-id`.
    "create-github-app-token": Pin(
        "actions/create-github-app-token", "bcd2ba49218906704ab6c1aa796996da409d3eb1", "v3.2.0"
    ),
    # v1.13.0 (a Docker action: no node runtime): ed0c5393… is quoted as "the commit that tag v1.13.0 points
    # to" and as "# v1.13.0" in several pinned workflows and pin tables. Used by flowtide's own release.yml.
    "pypi-publish": Pin("pypa/gh-action-pypi-publish", "ed0c53931b1dc9bd32cbe73a98c7f6766f8a527e", "v1.13.0"),
}


def uses(name: str) -> str:
    return PINS[name].uses
