"""makefile: which targets a Makefile defines, and which ones the generated workflows call."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtide.config import parse_config
from flowtide.makefile import _parsed_targets, called_targets, defined_targets

MAKEFILE = """\
PY := python
X = 1
.PHONY: build test-all install
build: dep
\techo build
test-all build2 : ; echo hi
lint: PY = other
deps:: a
\techo a
include extra.mk
%.o: %.c
\tcc -c $<
long \\
  names: ; echo long
"""


def test_parsed_targets_are_rules_not_assignments():
    assert _parsed_targets(MAKEFILE) == {"build", "test-all", "build2", "deps", "long", "names", ".PHONY"}


def test_make_itself_follows_includes(tmp_path: Path):
    (tmp_path / "Makefile").write_text(MAKEFILE)
    (tmp_path / "extra.mk").write_text("docs:\n\techo docs\n")
    defined = defined_targets(tmp_path / "Makefile")
    assert {"build", "test-all", "build2", "deps", "docs"} <= defined
    # only declared phony (make says "Nothing to be done"), only a variable, only a prerequisite, a pattern
    assert not {"install", "lint", "dep", "%.o"} & defined


@pytest.mark.parametrize(
    ("ci", "called"),
    [
        ("", {"install": "ci.setup", "lint": "ci.lint", "test": "ci.test"}),
        (
            "ci: {setup: 'pip install -r r.txt && make deps', lint: null, test: 'make -j2 unit e2e V=1'}",
            {"deps": "ci.setup", "unit": "ci.test", "e2e": "ci.test"},
        ),
        ("ci: {setup: 'make -C sub install', lint: 'tox -e lint', test: 'make'}", {}),
    ],
)
def test_called_targets(ci, called):
    assert called_targets(parse_config(f"project: x\n{ci}\n")) == called
