"""Report rendering as the checks use it: Markdown folds passes, HTML is self-contained and escapes, charts overlay."""

from __future__ import annotations

import io

from flowtide.report import Chart, Finding, Report


def sample() -> Report:
    return Report(
        kind="check",
        title="Data checks: weather",
        findings=[
            Finding("pass", "weather", "rows", "1461 rows", value=1461),
            Finding(
                "fail",
                "weather",
                "min",
                "1 row failed min (>= 0); first: row 10 (-3.5)",
                column="precipitation",
                value=1,
                bound=">= 0",
                details={"rows": [10], "values": ["-3.5"]},
            ),
            Finding("warn", "weather", "drift", "PSI 1.53 > 0.2: drift", column="temp_max", value=1.53, bound=0.2),
        ],
        charts=[
            Chart(
                "temp_max (weather)",
                "histogram",
                [1.0, 2.0],
                {"reference": [0.5, 0.5], "current": [0.1, 0.9]},
                status="warn",
            ),
            Chart(
                "wind (weather)",
                "histogram",
                [1.0, 2.0],
                {"reference": [0.5, 0.5], "current": [0.5, 0.5]},
                status="pass",
            ),
        ],
        summary={"rows": 1461},
    )


def test_markdown_lists_problems_and_folds_passes():
    md = sample().to_markdown()
    assert md.startswith("## ❌ Data checks: weather: failed\n")
    assert "**1 failed** · 1 warning · 1 passed" in md
    problems, folded = md.split("<details><summary>1 passed</summary>")
    assert (
        "| ❌ | weather | min | precipitation | 1 | >= 0 | 1 row failed min (>= 0); first: row 10 (-3.5) |" in problems
    )
    assert "| ✅ | weather | rows |  | 1461 |  | 1461 rows |" in folded
    # only the chart with a finding is drawn; the histogram overlays current as a line on reference bars
    assert md.count("```mermaid") == 1 and 'title "temp_max (weather)"' in md
    assert "  bar [0.5, 0.5]\n  line [0.1, 0.9]" in md
    assert "_1 more chart(s) without findings are in the HTML report._" in md


def test_html_is_self_contained_escaped_and_shows_failing_rows():
    report = sample()
    report.findings[1].message = "<script>alert(1)</script>"
    page = report.to_html()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<th>row</th><th>value</th></tr><tr><td>10</td><td><code>-3.5</code></td>" in page
    assert page.index("temp_max (weather)") < page.index("wind (weather)")
    # charts are Vega-Lite rendered to static SVG: one per chart, no script anywhere
    assert page.count("<svg") == 2 and "<script" not in page


def test_terminal_rendering_names_counts():
    from rich.console import Console

    out = io.StringIO()
    sample().render_terminal(Console(file=out, width=160, highlight=False))
    text = out.getvalue()
    assert text.startswith("Data checks: weather: failed\n")
    assert "1 failed · 1 warning · 1 passed" in text
    assert "target" not in text.splitlines()[1]  # one target: no target column
