"""The Makefile targets the generated workflows call, added to a repository's own Makefile.

ci.yml runs ``ci.setup``, ``ci.lint`` and ``ci.test`` (by default ``make install``,
``make lint``, ``make test``). In a repository that has its own Makefile, ``init``
appends the targets it lacks in one marked block and never touches a target the
user defined, whatever it does: a user's ``test`` is the project's test command.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import write_if_changed

if TYPE_CHECKING:
    from .config import Config

# the names GNU make reads, in its order: the first that exists is the Makefile
NAMES = ("GNUmakefile", "makefile", "Makefile")
BEGIN = "# >>> flowtide: the targets the generated workflows call"
END = "# <<< flowtide"
_RULE = re.compile(r"^(?P<targets>[^\s#:=][^:=]*?)\s*::?(?![=])(?P<rest>.*)$")
_ASSIGNMENT = re.compile(r"^\s*(?:override\s+|export\s+)?[A-Za-z0-9_.-]+\s*(?:=|:=|::=|:::=|\?=|\+=|!=)")


@dataclass
class MakefileUpdate:
    path: Path
    added: list[str] = field(default_factory=list)
    """Targets appended (install, lint, test...)."""
    kept: list[str] = field(default_factory=list)
    """Targets the workflows call that the user's Makefile already has (left as they are)."""
    unknown: dict[str, str] = field(default_factory=dict)
    """Targets the workflows call that are missing and init has no recipe for: target -> ci key."""


def make_env() -> dict[str, str]:
    """This process's environment without what an outer ``make`` passes down to a recursive one.

    Run from a make recipe (``make init``, or a test suite under ``make test``), MAKEFLAGS,
    MAKELEVEL and friends would turn our make into a sub-make: other flags, a jobserver, and
    "Entering directory" lines in its output.
    """
    return {k: v for k, v in os.environ.items() if k not in _OUTER_MAKE}


_OUTER_MAKE = frozenset({"MAKEFLAGS", "MFLAGS", "GNUMAKEFLAGS", "MAKELEVEL", "MAKEFILES", "MAKEOVERRIDES"})


def find(root: Path) -> Path | None:
    """The Makefile ``make`` would read in ``root``, or None."""
    for name in NAMES:
        if (root / name).is_file():
            return root / name
    return None


def called_targets(config: Config) -> dict[str, str]:
    """``{target: "ci.test"}`` for every ``make TARGET`` the generated workflows run, in order."""
    called: dict[str, str] = {}
    for key in ("setup", "lint", "test"):
        command = getattr(config.ci, key)
        for target in _make_targets(command or ""):
            called.setdefault(target, f"ci.{key}")
    return called


def _make_targets(command: str) -> list[str]:
    """The goals of each simple ``make ...`` in a shell command (none after -C/-f: another Makefile)."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return []
    goals: list[str] = []
    segment: list[str] = []
    for word in [*words, ";"]:
        if word not in (";", "&&", "||", "|", "&"):
            segment.append(word)
            continue
        elsewhere = any(w.startswith(("-C", "-f", "--directory", "--file", "--makefile")) for w in segment[1:])
        if segment[:1] == ["make"] and not elsewhere:
            goals += [w for w in segment[1:] if not w.startswith("-") and "=" not in w]
        segment = []
    return goals


def defined_targets(path: Path) -> set[str]:
    """Targets with a rule in ``path``: make's own database when make runs (includes followed), else a parse.

    ``-n -q`` and a goal that does not exist: no recipe runs. Reading the Makefile still expands its
    ``$(shell ...)`` calls, as any ``make`` in the repository does; the Makefile is the user's code.
    """
    try:
        proc = subprocess.run(
            ["make", "-n", "-p", "-q", "-f", path.name, "-r", "-R", ".flowtide-no-such-goal"],
            cwd=path.parent,
            env=make_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        proc = None
    if proc is not None and "# Files" in proc.stdout:
        return _database_targets(proc.stdout)
    return _parsed_targets(path.read_text(encoding="utf-8", errors="replace"))


def _database_targets(dump: str) -> set[str]:
    """Targets of the ``# Files`` section of ``make -p`` that have a recipe or prerequisites.

    Left out: ``# Not a target:`` entries (a file make merely knows of, a target-specific variable) and a
    target only declared ``.PHONY``, which ``make`` answers with "Nothing to be done" and which a rule
    appended later completes without overriding anything.
    """
    start, end = dump.find("\n# Files\n"), dump.find("\n# Finished Make data base")
    found: set[str] = set()
    for block in dump[start:end].split("\n\n") if start >= 0 else []:
        lines = block.strip("\n").splitlines()
        if not lines or "# Not a target:" in lines:
            continue
        rule = next((line for line in lines if line and not line.startswith(("#", "\t", " "))), None)
        match = _RULE.match(rule or "")
        if match is None or match["rest"].lstrip().startswith(("=", ":=")):
            continue
        has_recipe = any(line.startswith("#  recipe to execute") for line in lines)
        if has_recipe or match["rest"].strip() or "::" in rule:
            found.add(match["targets"].strip())
    return found


def _parsed_targets(text: str) -> set[str]:
    """Rule targets of one Makefile read as text (no make on PATH): good enough for plain Makefiles."""
    found: set[str] = set()
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if not line or line.startswith("\t") or line.lstrip().startswith("#") or _ASSIGNMENT.match(line):
            continue
        match = _RULE.match(line)
        if not match or _ASSIGNMENT.match(match["rest"]) or match["rest"].lstrip().startswith(("=", ":=")):
            continue
        found.update(t for t in match["targets"].split() if "%" not in t and "$" not in t)
    return found


def add_missing(root: Path, config: Config, recipes: dict[str, list[str]], preamble: list[str]) -> MakefileUpdate:
    """Append the targets the workflows call and ``path`` lacks, in one marked block; never touch the rest."""
    path = find(root)
    assert path is not None
    update = MakefileUpdate(path=path)
    defined = defined_targets(path)
    text = path.read_text(encoding="utf-8")
    ours = _parsed_targets(text[text.index(BEGIN) :]) if BEGIN in text else set()
    missing: list[str] = []
    called = called_targets(config)
    for target, key in called.items():
        if target in ours:
            continue
        if target in defined:
            update.kept.append(target)
        elif target in recipes:
            missing.append(target)
        else:
            update.unknown[target] = key
    if not missing:
        return update
    keys = list(dict.fromkeys(called[target] for target in missing))
    lines = [
        f"{BEGIN} ({', '.join(keys)} in flowtide.yaml).",
        "# Appended by `flowtide init` because this Makefile lacked them; the rest of the file is yours and a",
        "# target you define yourself is never added here. Delete the block to take a target over.",
        *preamble,
        f".PHONY: {' '.join(missing)}",
    ]
    for target in missing:
        lines += ["", f"{target}:", *(f"\t{step}" for step in recipes[target])]
    lines.append(END)
    if text and not text.endswith("\n"):
        text += "\n"
    write_if_changed(path, text + ("\n" if text.strip() else "") + "\n".join(lines) + "\n")
    update.added = missing
    return update
