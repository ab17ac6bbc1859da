"""The manual: `mkdocs build --strict` passes, the generated references cover the code, every link resolves.

The site is built once per session into a temporary directory (no `site/` in the checkout), by the
same command `make lint` runs. The references are generated at build time by docs/hooks.py, so a
command, option or flowtide.yaml key missing from them means the generation broke.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAGES = [
    "getting-started",
    "concepts",
    "data",
    "checks",
    "pipeline",
    "registry",
    "serving",
    "drift",
    "remote-store",
    "github",
    "examples",
    "security",
    "architecture",
    "reference/configuration",
    "reference/cli",
    "benchmarks",
    "development",
    "contributing",
    "changelog",
    "license",
]
# written by another change of issue 15 (LICENSE, CHANGELOG, CONTRIBUTING); checked once they exist
ROOT_FILES = {"LICENSE", "CHANGELOG.md", "CONTRIBUTING.md"}


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [BIN / "mkdocs", "build", "--strict", "--site-dir", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": f"{BIN}:/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _page(site: Path, name: str) -> str:
    path = site / name / "index.html"
    assert path.is_file(), f"{name} was not built"
    return path.read_text(encoding="utf-8")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_key_pages_are_built(site):
    assert (site / "index.html").is_file()
    for name in PAGES:
        _page(site, name)
    assert not (site / "hooks.py").exists()  # the build's own code is not published


def test_every_internal_link_and_anchor_resolves(site):
    parsed = {path: _parse(path) for path in site.rglob("*.html")}
    checked = 0
    for path, links in parsed.items():
        if path.name == "404.html":
            continue
        for href in links.hrefs:
            url = urlsplit(href)
            if url.scheme or url.netloc or href.startswith("mailto:"):
                continue
            target = (path.parent / unquote(url.path)).resolve() if url.path else path
            if target.is_dir():
                target = target / "index.html"
            assert target.is_file(), f"{path.relative_to(site)}: link {href!r} leads nowhere"
            if url.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                assert url.fragment in ids, f"{path.relative_to(site)}: no anchor #{url.fragment} in {href!r}"
            checked += 1
    assert checked > 200  # the pages really link to each other


def test_the_cli_reference_has_every_command_and_option(site):
    import argparse

    from flowtide.cli import COMMANDS, command_parser

    page = _page(site, "reference/cli")

    def walk(parser: argparse.ArgumentParser):
        assert f"<code>{parser.prog}</code>" in page, f"no section for {parser.prog}"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"<code>{flag}" in page, f"{parser.prog}: option {flag} missing"

    for name in COMMANDS:
        walk(command_parser(name)[0])
    assert "--trigger" in page and "--since REV" in page  # help texts and metavars come through


def test_the_configuration_reference_has_every_key(site):
    from flowtide.config import json_schema

    page = _page(site, "reference/configuration")
    schema = json_schema()
    for definitions in (schema, *schema["$defs"].values()):
        for key in definitions.get("properties", {}):
            assert f"<code>{key}</code>" in page, f"flowtide.yaml key {key} missing"
    for name in schema["$defs"]:
        assert f'id="{name.lower()}"' in page, f"no section for {name}"
    # a description written as an attribute docstring reaches the page
    assert "Named places data comes from, fetched by <code>flowtide pull</code>." in page


def test_the_pins_on_the_workflows_page_are_the_generated_ones(site):
    from flowtide.workflows.pinned_actions import PINS

    page = _page(site, "github")
    for pin in PINS.values():
        assert re.search(rf"<code>{re.escape(pin.repo)}</code></td>\s*<td>{re.escape(pin.version)}</td>", page), pin
        assert pin.sha in page
    # the Markdown source names no version by hand, so it cannot disagree with the table
    source = (ROOT / "docs/github.md").read_text(encoding="utf-8")
    for pin in PINS.values():
        assert pin.sha not in source and f"{pin.repo.split('/')[1]} {pin.version}" not in source


def test_the_examples_page_includes_both_example_readmes(site):
    page = _page(site, "examples")
    for example in ("weather", "penguins"):
        first = (ROOT / f"src/flowtide/examples/{example}/README.md").read_text(encoding="utf-8").splitlines()[0]
        assert first.lstrip("# ").split(" — ")[0] in page
        assert f'<h2 id="{example}' in page  # the README's title, one level down


# --- without building -----------------------------------------------------------------------------

FIGURE = re.compile(r"\d ?ms\b|\b\d+(?:\.\d+)?x\b|req/s|\d ?(?:MB|GB|MiB) peak|% slower|times faster")
ALLOWED = ("a model measured under 1 ms a request",)  # a routing threshold of the server, not a measurement


def test_performance_figures_live_only_on_the_benchmarks_page():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        if path.name == "benchmarks.md":
            continue
        text = path.read_text(encoding="utf-8")
        for allowed in ALLOWED:
            text = text.replace(allowed, "")
        found = FIGURE.findall(text)
        assert not found, f"{path.relative_to(ROOT)} has performance figures {found}: move them to docs/benchmarks.md"
    bench = (ROOT / "docs/benchmarks.md").read_text(encoding="utf-8")
    assert "make bench" in bench and "2-core" in bench  # the command and the machine caveat
    areas = sorted(path.stem for path in (ROOT / "benchmarks").glob("[!_]*.py"))
    listed = re.search(r"for one area: ([^)]*)\)", bench)[1]
    assert re.findall(r"`(\w+)`", listed) == areas, "list every benchmarks/<area>.py on the benchmarks page"


def test_every_relative_link_of_the_readme_resolves():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert len(links) >= 15
    for link in links:
        if urlsplit(link).scheme:
            continue
        target = ROOT / unquote(urlsplit(link).path)
        if target.name in ROOT_FILES and not target.exists():
            continue
        assert target.exists(), f"README.md links to {link}, which does not exist"
    # the landing page stays short and points at the manual for the rest
    assert len(text.splitlines()) < 150
    assert "make demo" in text and "make test" in text


def test_root_files_become_pages_with_links_that_stay_inside_the_manual(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    (tmp_path / "CONTRIBUTING.md").write_text(
        "# Contributing\n\nRead [the manual](docs/getting-started.md#install), the [README](README.md),"
        " the [Makefile](Makefile), [upstream](https://example.org/x) and [below](#tests).\n"
    )
    assert hooks.root_page("CONTRIBUTING.md", False, root=tmp_path) == (
        "# Contributing\n\nRead [the manual](getting-started.md#install), the [README](index.md),"
        " the Makefile (`Makefile`), [upstream](https://example.org/x) and [below](#tests).\n"
    )
    (tmp_path / "LICENSE").write_text("Apache License\n")
    assert hooks.root_page("LICENSE", True, root=tmp_path) == "# License\n\n```text\nApache License\n\n```\n"
    assert "not in this checkout" in hooks.root_page("CHANGELOG.md", False, root=tmp_path)


def test_the_platforms_are_stated_where_the_package_metadata_states_them():
    import tomllib

    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    oses = sorted(c for c in classifiers if c.startswith("Operating System"))
    assert oses == ["Operating System :: MacOS", "Operating System :: POSIX :: Linux"]
    start = (ROOT / "docs/getting-started.md").read_text(encoding="utf-8")
    assert "**Platforms: Linux and macOS.**" in start and "Windows is not supported" in start
    assert "import fcntl" in (ROOT / "src/flowtide/project.py").read_text()  # the lock the statement is about
