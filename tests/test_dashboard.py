"""`flowtide dashboard`: a static site from the registry, run records, monitor history and the lock's git history,
checked in a real headless browser (Debian's chromium driven by Playwright): no console error on any page,
charts with marks, every link resolving."""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from flowtide.pipeline.runs import RunRecord, save
from flowtide.project import Project

from ._serving import artifacts, replay, served_project, weather_rows
from .conftest import git, run_cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def models(weather_csv, tmp_path_factory):
    return artifacts(weather_csv, tmp_path_factory.mktemp("models"))


def _project(tmp_path, weather_csv, models) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    git("init", "-q", "-b", "main", cwd=root)
    project = served_project(root, weather_csv, models, deploy="deploy:\n  canary: {weight: 0.5, min_requests: 80}\n")
    # two data versions in the lock's git history
    for n, digest in enumerate(("ab" * 32, "cd" * 32)):
        lock = {
            "version": 1,
            "sources": {"weather": {"hash": digest, "size": 1000 + n, "path": "data/weather.csv"}},
            "stages": {},
        }
        (root / "flowtide.lock").write_text(json.dumps(lock))
        git("add", "flowtide.lock", cwd=root)
        git("commit", "-q", "-m", f"data v{n + 1}", cwd=root)
    # a version trained on the second data version: its lineage links to that data version's row
    from flowtide import registry

    from ._models import train

    train(root, weather_csv, "good", seed=5)
    registry.register(Project.load(root))
    # three recorded runs with metrics
    for i, accuracy in enumerate((0.55, 0.61, 0.64)):
        started = time.time() - 3600 * (3 - i)
        save(
            project,
            RunRecord(
                id=f"2026010{i + 1}-000000-000{i}",
                started=started,
                finished=started + 5,
                status="ok",
                git_commit=git("rev-parse", "HEAD", cwd=root),
                git_dirty=i == 2,
                metrics={"accuracy": accuracy, "f1_macro": accuracy - 0.2},
                stages={"train": {"status": "ran"}},
            ),
        )
    rows = weather_rows(weather_csv)
    replay(project, random.Random(3).sample(rows, 200))
    for _ in range(2):  # two monitor runs: two history records
        assert run_cli("monitor", "-C", root, "--json").code in (0, 1, 3)
    return root


def test_the_dashboard_is_built_from_what_the_project_keeps(tmp_path, weather_csv, models):
    root = _project(tmp_path, weather_csv, models)
    history = (root / ".flowtide" / "monitor" / "history.jsonl").read_text().splitlines()
    assert len(history) == 2 and json.loads(history[-1])["predictions"] == 200
    site = tmp_path / "site"
    result = run_cli("dashboard", "-C", root, "-o", site, "--json")
    assert result.code == 0, result.err
    built = json.loads(result.out)
    assert built["counts"] == {"versions": 3, "runs": 3, "monitor runs": 2, "data versions": 2, "reports": 1}
    models_page = (site / "models.html").read_text()
    assert "v1" in models_page and "production by" in models_page  # who approved each promotion
    assert "data/weather.csv <a href='data.html#h-cdcdcdcdcdcd'>" in models_page  # v3's data, by hash
    data_page = (site / "data.html").read_text()
    assert "cdcdcdcdcdcd" in data_page and "data v2" in data_page
    assert data_page.index("data v2") < data_page.index("data v1")  # newest first, even within one second
    monitor_page = (site / "monitor.html").read_text()
    assert "monitor.performance minimum 0.5" in monitor_page  # the threshold drawn as a rule on live accuracy
    runs_page = (site / "runs.html").read_text()
    assert "20260103-000000-0002" in runs_page and "<script" not in runs_page
    _browse(site, tmp_path)


def _browse(site: Path, tmp_path: Path) -> None:
    """Every page and every report it links to in headless chromium: no console error, charts drawn, links resolve."""
    from playwright.sync_api import sync_playwright

    shots = tmp_path / "shots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        page.on("request", lambda r: errors.append(f"fetched {r.url}") if not r.url.startswith("file://") else None)
        visited: set[Path] = set()
        queue = [site / "index.html"]
        while queue:
            path = queue.pop()
            if path in visited:
                continue
            visited.add(path)
            page.goto(path.as_uri())
            page.screenshot(path=str(shots / f"{path.parent.name}-{path.stem}.png"), full_page=True)
            figures = page.locator("figure").count()
            if figures:  # every chart has drawn marks (lines, bars, cells), not only axes
                assert page.locator("figure svg .role-mark").count() >= figures, path
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
                if href.startswith(("http://", "https://")):
                    continue  # a CI run's URL: outside the site by design
                url = urlparse(href)
                target = (path.parent / unquote(url.path)).resolve() if url.path else path
                assert target.is_file(), f"{path.name}: broken link {href}"
                if url.fragment:
                    assert f"id='{url.fragment}'" in target.read_text(), f"{path.name}: no anchor for {href}"
                if target.suffix == ".html" and target not in visited:
                    queue.append(target)
        browser.close()
    names = {p.name for p in visited}
    assert {"index.html", "models.html", "runs.html", "monitor.html", "data.html"} <= names
    assert any(p.parent.name == "reports" for p in visited)  # the latest monitor report, linked and opened
    assert errors == []
