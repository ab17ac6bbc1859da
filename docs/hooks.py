"""mkdocs hooks: the parts of the manual that are generated from the code at build time.

A page asks for generated text with a marker comment on a line of its own:

    <!-- flowtide:cli -->                  every command's usage, help and options (the argparse parsers)
    <!-- flowtide:config -->               every flowtide.yaml key (the JSON Schema, `flowtide schema`)
    <!-- flowtide:pins -->                 the table of SHA-pinned actions (workflows/pinned_actions.py)
    <!-- flowtide:include PATH -->         a Markdown file of the repository, headings one level down

Nothing generated is committed, so a reference can never be stale: `mkdocs build` (run by
`make lint` and by tests/test_docs.py) regenerates it from the installed flowtide. The root
files LICENSE, CHANGELOG.md and CONTRIBUTING.md become pages the same way (on_files).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- flowtide:(?P<kind>[a-z]+)(?: (?P<arg>\S+))? -->$", re.M)
# root files shown as pages: (page, file, rendered as a code block)
ROOT_PAGES = (
    ("license.md", "LICENSE", True),
    ("changelog.md", "CHANGELOG.md", False),
    ("contributing.md", "CONTRIBUTING.md", False),
)


# --- mkdocs events -------------------------------------------------------------------------


def on_files(files, config):
    from mkdocs.structure.files import File

    for page, name, verbatim in ROOT_PAGES:
        files.append(File.generated(config, page, content=root_page(name, verbatim)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    return expand(markdown)


# --- generation (plain functions, so tests can call them too) -------------------------------


def expand(markdown: str) -> str:
    def replace(match: re.Match) -> str:
        kind, arg = match["kind"], match["arg"]
        if kind == "cli":
            return cli_reference()
        if kind == "config":
            return config_reference()
        if kind == "pins":
            return pins_table()
        if kind == "include" and arg:
            return include(arg)
        raise ValueError(f"unknown docs marker {match[0]!r}")

    return MARKER.sub(replace, markdown)


def root_page(name: str, verbatim: bool, root: Path = ROOT) -> str:
    path = root / name
    title = {"LICENSE": "License"}.get(name, name.removesuffix(".md").title())
    if not path.is_file():
        return f"# {title}\n\n`{name}` is not in this checkout of the repository.\n"
    text = path.read_text(encoding="utf-8")
    if verbatim:
        return f"# {title}\n\n```text\n{text}\n```\n"
    return relink(text)


_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")


def relink(text: str) -> str:
    """Links of a root file, for a page in docs/: docs/X.md -> X.md, README.md -> the home page, and any
    other file of the repository as plain text (`--strict` refuses links that lead out of the manual)."""

    def replace(match: re.Match) -> str:
        target = match["target"]
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match[0]
        path, _, anchor = target.partition("#")
        anchor = f"#{anchor}" if anchor else ""
        if path.startswith("docs/") and path.endswith(".md"):
            return f"{match['bang']}[{match['text']}]({path.removeprefix('docs/')}{anchor})"
        if path in ("README.md", "docs/", "docs"):
            return f"[{match['text']}](index.md{anchor})"
        return f"{match['text']} (`{path}`)"

    return _LINK.sub(replace, text)


def include(rel: str) -> str:
    """A Markdown file of the repository, its headings moved one level down (it sits under a page title)."""
    text = (ROOT / rel).read_text(encoding="utf-8")
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        out.append(f"#{line}" if line.startswith("#") and not fenced else line)
    return "\n".join(out) + "\n"


def pins_table() -> str:
    from flowtide.workflows.pinned_actions import PINS

    rows = ["| action | version | pinned commit |", "|---|---|---|"]
    rows += [f"| `{pin.repo}` | {pin.version} | `{pin.sha}` |" for pin in PINS.values()]
    return "\n".join(rows) + "\n"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ").strip()


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        return ", ".join(f"`{flag}`" for flag in action.option_strings)
    metavar = action.metavar or action.dest.upper()
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    if action.nargs in ("+", "*"):
        metavar = f"{metavar} ..."
    return ", ".join(f"`{flag} {metavar}`" for flag in action.option_strings)


def _help(action: argparse.Action) -> str:
    text = _cell(action.help)
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        text += f" (one of: {', '.join(f'`{c}`' for c in action.choices)})"
    default = action.default
    if (
        action.option_strings
        and action.nargs != 0
        and default not in (None, argparse.SUPPRESS, [], "")
        and "default" not in text
    ):
        text += f" (default: `{default}`)"
    return text.strip()


def _command(parser: argparse.ArgumentParser, level: int, summary: str | None = None) -> list[str]:
    out = [f"{'#' * level} `{parser.prog}`", ""]
    if parser.description or summary:
        out += [_cell(parser.description or summary), ""]
    out += ["```text", parser.format_usage().strip(), "```", ""]
    rows, subcommands = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            subcommands += [(sub, helps.get(name)) for name, sub in action.choices.items()]
            continue
        rows.append(f"| {_flags(action)} | {_help(action)} |")
    if rows:
        out += ["| argument | meaning |", "|---|---|", *rows, ""]
    for sub, text in subcommands:
        out += _command(sub, level + 1, text)
    return out


def cli_reference() -> str:
    """A section per command (and sub-command), from the same parsers `flowtide COMMAND --help` prints."""
    from flowtide.cli import COMMANDS, _top_parser, command_parser

    top = _top_parser()
    out = ["```text", top.format_help().strip(), "```", ""]
    for name, (_, summary) in COMMANDS.items():
        parser, _ = command_parser(name)
        out += _command(parser, 2, summary)
    return "\n".join(out)


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        kinds = [_type(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return " or ".join(dict.fromkeys(kinds)) or "null"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of name → {_type(schema['additionalProperties'])}"
    return kind if isinstance(kind, str) else " or ".join(kind)


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema or schema["default"] is None:
        return ""
    return f"`{json.dumps(schema['default'], ensure_ascii=False)}`"


def _fields(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, prop in schema.get("properties", {}).items():
        name = f"`{key}`" + (" (required)" if key in required else "")
        rows.append(f"| {name} | {_type(prop)} | {_default(prop)} | {_cell(prop.get('description'))} |")
    return rows


def config_reference() -> str:
    """Every key of flowtide.yaml with its type, default and description: the JSON Schema, rendered."""
    from flowtide.config import json_schema

    schema = json_schema()
    out = ["## Top level", "", _cell(schema.get("description")), "", *_fields(schema), ""]
    for name, definition in sorted(schema.get("$defs", {}).items()):
        out += [f"## {name}", ""]
        if definition.get("description"):
            out += [_cell(definition["description"]), ""]
        out += [*_fields(definition), ""]
    return "\n".join(out)
