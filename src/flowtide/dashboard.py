"""``flowtide dashboard``: a static site built from what the project keeps, nothing else.

The registry (versions, stages, approvals, lineage to data hashes and commits), the run records
(metrics over time), the monitor history (.flowtide/monitor/history.jsonl) and the data versions in
flowtide.lock's git history become five pages of plain HTML with charts as static SVG (Vega-Lite
rendered offline by vl-convert): no script, no CDN, so the folder opens from disk or on GitHub Pages.
The latest check/diff/gate/monitor reports are copied in and linked.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import atomic_write
from .report import Chart

if TYPE_CHECKING:
    from .project import Project

PAGES = [
    ("index.html", "Overview"),
    ("models.html", "Models"),
    ("runs.html", "Runs"),
    ("monitor.html", "Monitor"),
    ("data.html", "Data"),
]
MAX_SERIES = 6

_EXTRA_CSS = """
nav{display:flex;gap:4px;flex-wrap:wrap;margin:0 0 18px}
nav a{padding:6px 12px;border-radius:8px;color:var(--fg);text-decoration:none;border:1px solid var(--line);background:var(--card)}
nav a.here{background:var(--fg);color:var(--bg)}
a{color:var(--info)} .muted{color:var(--muted)} .empty{padding:14px;border:1px dashed var(--line);border-radius:10px;color:var(--muted)}
code.hash{font-size:12px}
"""


@dataclass
class Site:
    """What ``build`` wrote: the directory, its pages and the counts each page is built from."""

    directory: Path
    pages: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "pages": [str(p) for p in self.pages], "counts": self.counts}


def build(project: Project, directory: str | Path | None = None) -> Site:
    """Write the site into ``directory`` (default .flowtide/dashboard); previous pages are replaced."""
    from .monitor import history
    from .pipeline.runs import list_runs
    from .registry import Registry

    out = Path(directory) if directory else project.state_dir / "dashboard"
    out.mkdir(parents=True, exist_ok=True)
    registry = Registry.load(project)
    runs = sorted(list_runs(project, None), key=lambda r: r.started)
    monitor_runs = history.read(project)
    data = lock_history(project)
    reports = _copy_reports(project, out)
    site = Site(out)
    site.counts = {
        "versions": sum(len(registry.versions(m)) for m in registry.models()),
        "runs": len(runs),
        "monitor runs": len(monitor_runs),
        "data versions": len(data),
        "reports": len(reports),
    }
    name = project.config.project
    pages = {
        "index.html": _overview(project, registry, runs, monitor_runs, data, reports),
        "models.html": _models(registry, {i["hash"][:12] for e in data for i in e["sources"].values()}),
        "runs.html": _runs(runs),
        "monitor.html": _monitor(monitor_runs, reports),
        "data.html": _data(data),
    }
    for file, body in pages.items():
        title = dict(PAGES)[file]
        atomic_write(out / file, _page(name, file, title, body), fsync=False)
        site.pages.append(out / file)
    return site


# --- data ------------------------------------------------------------------------------------


def lock_history(project: Project) -> list[dict[str, Any]]:
    """The data versions: for each commit that changed flowtide.lock, its sources' hashes and sizes (oldest first)."""
    from .config import LOCK_FILE

    try:
        log = subprocess.run(
            ["git", "log", "--format=%H %ct %s", "--", LOCK_FILE],
            cwd=project.root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    out = []
    for line in reversed(log.splitlines()):  # git log is newest first; commits in one second keep their order
        commit, stamp, *subject = line.split(" ", 2)
        shown = subprocess.run(
            ["git", "show", f"{commit}:{LOCK_FILE}"], cwd=project.root, capture_output=True, text=True
        )
        try:
            lock = json.loads(shown.stdout)
        except ValueError:
            continue  # a lock that was not valid JSON in that commit: nothing to show for it
        sources = lock.get("sources") if isinstance(lock, dict) else None
        if not isinstance(sources, dict):
            continue
        out.append(
            {
                "commit": commit,
                "time": int(stamp),
                "subject": subject[0] if subject else "",
                "sources": {
                    str(k): {"hash": str(v.get("hash", "")), "size": v.get("size")}
                    for k, v in sources.items()
                    if isinstance(v, dict)
                },
            }
        )
    return sorted(out, key=lambda e: e["time"])


def _copy_reports(project: Project, out: Path) -> list[str]:
    """The latest reports (.flowtide/reports/*.html) copied next to the pages, so links never leave the site."""
    source = project.state_dir / "reports"
    target = out / "reports"
    names = []
    if source.is_dir():
        for page in sorted(source.glob("*.html")):
            target.mkdir(exist_ok=True)
            shutil.copyfile(page, target / page.name)
            names.append(page.name)
    return names


# --- pages -----------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _e(value)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) + " UTC"


def _page(project: str, file: str, title: str, body: str) -> str:
    from .report.html import css

    nav = "".join(f"<a href='{f}'{' class=here' if f == file else ''}>{t}</a>" for f, t in PAGES)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(project)} · {title}</title><style>{css()}{_EXTRA_CSS}</style></head><body><main>"
        f"<h1>{_e(project)}</h1><nav>{nav}</nav>{body}"
        "<footer>flowtide dashboard · built from flowtide.registry, the run records, the monitor history and "
        f"flowtide.lock's git history · {_when(time.time())} · no scripts, no external resources</footer>"
        "</main></body></html>\n"
    )


def _chart(chart: Chart) -> str:
    from .report.vega import to_svg

    spec = json.dumps(chart.spec(), sort_keys=True)
    # the spec rides along (inert JSON, not a script) so a reader can re-plot the same data
    return (
        f"<figure aria-label='{_e(chart.title)}'>{to_svg(chart.spec())}"
        f"<details><summary class='muted'>data (Vega-Lite spec)</summary><pre><code>{_e(spec)}</code></pre></details>"
        "</figure>"
    )


def _table(columns: list[str], rows: list[list[str]]) -> str:
    """Cells are already HTML (escaped by the caller)."""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _empty(text: str) -> str:
    return f"<p class='empty'>{text}</p>"


def _numeric_metrics(records: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for metrics in records:
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in names:
                names.append(key)
    return names[:MAX_SERIES]


def _overview(project, registry, runs, monitor_runs, data, reports) -> str:
    tiles = []
    for model in registry.models():
        production = registry.in_stage(model, "production")
        staging = registry.in_stage(model, "staging")
        tiles.append((f"v{production.version}" if production else "none", f"{model} in production"))
        if staging:
            tiles.append((f"v{staging.version}", f"{model} in staging"))
    if runs:
        tiles.append((runs[-1].status, f"last run {_when(runs[-1].started)}"))
    if monitor_runs:
        last = monitor_runs[-1]
        tiles.append((last["verdict"], f"last monitor {_when(last['time'])}: {last.get('title', '')}"))
    tiles.append((str(len(data)), "data versions in git"))
    parts = ["<section class='tiles'>"]
    parts += [f"<div class='tile {_tile(v)}'><b>{_e(v)}</b><span>{_e(k)}</span></div>" for v, k in tiles]
    parts.append("</section>")
    parts.append("<h2>Runs over time</h2>")
    parts.append(_runs_chart(runs) or _empty("No runs recorded yet: <code>flowtide run</code> records one."))
    parts.append("<h2>Latest reports</h2>")
    if reports:
        parts.append("<ul>" + "".join(f"<li><a href='reports/{_e(r)}'>{_e(r)}</a></li>" for r in reports) + "</ul>")
    else:
        parts.append(_empty("No reports yet: check, diff --html, gate and monitor write them to .flowtide/reports."))
    return "".join(parts)


def _runs_chart(runs) -> str:
    names = _numeric_metrics([r.metrics for r in runs])
    if not runs or not names:
        return ""
    x = [_iso(r.started) for r in runs]
    series = {
        n: [float(r.metrics[n]) if isinstance(r.metrics.get(n), (int, float)) else None for r in runs] for n in names
    }
    chart = Chart(
        "Metrics of each run",
        "line",
        x,
        series,
        x_label="run started (UTC)",
        y_label="value",
        x_type="temporal",
        subtitle=f"{len(runs)} runs",
    )
    return _chart(chart)


def _models(registry, known: set[str]) -> str:
    if not registry.models():
        return _empty("No model versions registered yet: <code>flowtide register</code> after training.")
    parts = []
    for model in registry.models():
        versions = registry.versions(model)
        parts.append(f"<h2 id='model-{_e(model)}'>{_e(model)}</h2>")
        names = _numeric_metrics([v.metrics for v in versions])
        if names and len(versions) > 1:
            chart = Chart(
                f"{model}: metrics by version",
                "line",
                [f"v{v.version}" for v in versions],
                {
                    n: [v.metrics.get(n) if isinstance(v.metrics.get(n), (int, float)) else None for v in versions]
                    for n in names
                },
                x_label="version",
                y_label="value",
            )
            parts.append(_chart(chart))
        rows = []
        for v in reversed(versions):
            approvals = [
                f"{_e(e.get('to'))} by {_e(e.get('by') or 'unknown')} at {_e(e.get('at'))}"
                for e in v.history
                if e.get("event") == "promote" and e.get("version") == v.version
            ]
            gates = "passed" if v.gates.get("passed") else "failed" if v.gates.get("evaluated") else "not run"
            data = "<br>".join(
                f"{_e(path)} "
                + (
                    f"<a href='data.html#h-{_e(digest[:12])}'><code class='hash'>{_e(digest[:12])}</code></a>"
                    if digest[:12] in known  # a version of a source in the lock's history: its row there
                    else f"<code class='hash'>{_e(digest[:12])}</code>"
                )
                for path, digest in sorted(v.data.items())
            )
            commit = f"<code class='hash'>{_e((v.commit or '')[:10])}{'*' if v.dirty else ''}</code>"
            metrics = ", ".join(f"{_e(k)}={_num(val)}" for k, val in v.metrics.items())
            rows.append(
                [
                    f"v{v.version}",
                    _e(v.stage),
                    _e(v.created.replace("T", " ")[:16] + (" UTC" if v.created.endswith("Z") else "")),
                    commit,
                    _e(gates),
                    metrics,
                    data or "<span class='muted'>none recorded</span>",
                    "<br>".join(approvals) or "<span class='muted'>—</span>",
                ]
            )
        parts.append(_table(["version", "stage", "created", "commit", "gates", "metrics", "data", "promotions"], rows))
    parts.append("<p class='muted'>* the working tree had uncommitted changes when the version was registered</p>")
    return "".join(parts)


def _runs(runs) -> str:
    if not runs:
        return _empty("No runs recorded yet: <code>flowtide run</code> records one each time a stage runs.")
    parts = [_runs_chart(runs)]
    names = _numeric_metrics([r.metrics for r in runs])
    rows = []
    for r in reversed(runs):
        ran = [n for n, s in r.stages.items() if s.get("status") in ("ran", "restored")]
        commit = f"<code class='hash'>{_e((r.git_commit or '')[:10])}{'*' if r.git_dirty else ''}</code>"
        link = f" <a href='{_e(r.url)}'>CI run</a>" if r.url else ""
        rows.append(
            [f"<code>{_e(r.id)}</code>{link}", _e(_when(r.started)), _e(r.status), commit, _e(", ".join(ran))]
            + [_num(r.metrics.get(n, "")) for n in names]
        )
    parts.append(_table(["run", "started", "status", "commit", "stages run", *names], rows))
    return "".join(parts)


def _monitor(entries: list[dict[str, Any]], reports: list[str]) -> str:
    latest = [r for r in reports if r.startswith("monitor")]
    link = "".join(f"<p><a href='reports/{_e(r)}'>latest report: {_e(r)}</a></p>" for r in latest)
    if not entries:
        return link + _empty("No monitor runs recorded yet: each <code>flowtide monitor</code> appends one.")
    x = [_iso(e["time"]) for e in entries]
    parts = [link]
    # live metric per served version across monitor runs (the table column named "live <metric>")
    series: dict[str, list[float | None]] = {}
    metric = "metric"
    for i, entry in enumerate(entries):
        for row in entry.get("versions", []):
            live = next((k for k in row if k.startswith("live ")), None)
            if live is None or not isinstance(row.get(live), (int, float)):
                continue
            metric = live[5:]
            name = f"{row.get('version', '?')} ({row.get('role', '?')})"
            series.setdefault(name, [None] * len(entries))[i] = float(row[live])
    if series:
        keep = dict(list(series.items())[:MAX_SERIES])
        parts.append(
            _chart(
                Chart(
                    f"Live {metric} at each monitor run",
                    "line",
                    x,
                    keep,
                    x_label="monitor run (UTC)",
                    y_label=metric,
                    x_type="temporal",
                    subtitle="runs without labelled predictions for a version have no point",
                    thresholds=(entries[-1].get("thresholds") or {}).get(metric, []),
                )
            )
        )
    parts.append(
        _chart(
            Chart(
                "Predictions and labelled rows in the window of each monitor run",
                "line",
                x,
                {
                    "predictions": [float(e.get("predictions") or 0) for e in entries],
                    "labelled": [float(e.get("labelled") or 0) for e in entries],
                },
                x_label="monitor run (UTC)",
                y_label="rows in the window",
                x_type="temporal",
            )
        )
    )
    rows = []
    for e in reversed(entries):
        drifted = sorted({c for cols in (e.get("drifted") or {}).values() for c in cols})
        canary = ", ".join(f"{c.get('model')} v{c.get('canary')}: {c.get('verdict')}" for c in e.get("canary", []))
        rows.append(
            [
                _e(_when(e["time"])),
                f"<span class='badge {_status(e.get('verdict'))}'>{_e(e.get('verdict'))}</span>",
                _e(e.get("title")),
                _num(e.get("predictions")),
                _num(e.get("labelled")),
                _e(", ".join(drifted) or "none"),
                _e(canary or "—"),
                _e(e.get("reason")),
            ]
        )
    parts.append(_table(["time", "verdict", "title", "predictions", "labelled", "drifting", "canary", "why"], rows))
    return "".join(parts)


def _tile(value: str) -> str:
    return {"failed": "fail", "warning": "warn", "not judged": "unjudged", "passed": "pass", "ok": "pass"}.get(
        value, "meta"
    )


def _status(verdict: Any) -> str:
    return {"passed": "pass", "failed": "fail", "warning": "warn", "not judged": "unjudged"}.get(str(verdict), "info")


def _data(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return _empty(
            "No data versions yet: flowtide.lock has no history in git (commit it after <code>flowtide pull</code>)."
        )
    parts = []
    sources = sorted({s for e in entries for s in e["sources"]})
    sizes = {
        s: [
            float(e["sources"][s]["size"]) if isinstance(e["sources"].get(s, {}).get("size"), int) else None
            for e in entries
        ]
        for s in sources[:MAX_SERIES]
    }
    if any(v is not None for vs in sizes.values() for v in vs):
        parts.append(
            _chart(
                Chart(
                    "Source size at each commit of flowtide.lock",
                    "line",
                    [e["commit"][:10] for e in entries],  # one point per commit, even two in one second
                    sizes,
                    x_label="commit (oldest first)",
                    y_label="bytes",
                )
            )
        )
    rows = []
    seen: set[str] = set()
    for e in reversed(entries):
        for source, info in sorted(e["sources"].items()):
            digest = info["hash"]
            short = digest[:12]
            anchor = f" id='h-{_e(short)}'" if short not in seen else ""
            seen.add(short)
            rows.append(
                [
                    _e(_when(e["time"])),
                    f"<code class='hash'>{_e(e['commit'][:10])}</code>",
                    _e(e["subject"]),
                    _e(source),
                    f"<code class='hash'{anchor}>{_e(short)}</code>",
                    _num(info.get("size")),
                ]
            )
    parts.append(_table(["committed", "commit", "message", "source", "hash", "bytes"], rows))
    return "".join(parts)


def serve(directory: Path, port: int = 8000) -> None:
    """Serve the site on 127.0.0.1 until interrupted (the standard library's static file server)."""
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"dashboard at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
