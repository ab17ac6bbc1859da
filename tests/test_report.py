"""The report model's verdicts and the Vega-Lite specs of its charts (golden: data, marks, thresholds)."""

from __future__ import annotations

import io

from flowtide.report import Chart, Finding, Report
from flowtide.report.markdown import mermaid


def verdict(*statuses: str) -> tuple[str, str]:
    report = Report("x", "X", findings=[Finding(s, "t", "r", f"{s} message") for s in statuses])  # type: ignore[arg-type]
    return report.verdict, report.reason


def test_verdicts_never_pass_for_nothing():
    assert verdict() == ("not judged", "nothing was judged")
    assert verdict("info") == ("not judged", "nothing was judged: info message")
    assert verdict("pass", "pass") == ("passed", "2 of 2 rules passed")
    assert verdict("pass", "warn", "info") == ("warning", "t: warn message")
    assert verdict("pass", "unjudged", "warn") == ("not judged", "t: unjudged message")
    assert verdict("fail", "unjudged", "fail") == ("failed", "t: fail message (and 1 more)")
    nothing = Report("diff", "D", unjudged_reason="no metrics in either revision")
    assert (nothing.verdict, nothing.reason, nothing.status) == (
        "not judged",
        "no metrics in either revision",
        "unjudged",
    )
    assert nothing.to_dict()["reason"] == "no metrics in either revision"


def test_every_rendering_states_the_verdict_and_why():
    from rich.console import Console

    report = Report("check", "Checks", findings=[Finding("warn", "w", "drift", "PSI 0.3 > 0.2: drift")])
    assert report.to_markdown().startswith("## ⚠️ Checks: warning\n\n_w: PSI 0.3 > 0.2: drift_\n")
    out = io.StringIO()
    report.render_terminal(Console(file=out, width=80))
    assert out.getvalue().startswith("Checks: warning\n  w: PSI 0.3 > 0.2: drift\n")
    page = report.to_html()
    assert "<header class='warn'><div class='verdict'>!</div>" in page
    assert "<p class='reason'>w: PSI 0.3 &gt; 0.2: drift</p>" in page


def test_line_spec_leaves_empty_buckets_out_and_draws_thresholds():
    chart = Chart(
        "Live accuracy over time",
        "line",
        ["2026-12-01T00:00:00.000Z", "2026-12-01T01:00:00.000Z", "2026-12-01T02:00:00.000Z"],
        {"v1 production": [0.9, None, 0.8], "v2 canary": [None, 0.7, 0.75]},
        y_label="accuracy",
        x_type="temporal",
        thresholds=[{"value": 0.75, "label": "minimum 0.75"}],
    )
    spec = chart.spec()
    assert spec["data"]["values"] == [
        {"x": "2026-12-01T00:00:00.000Z", "series": "v1 production", "value": 0.9},
        {"x": "2026-12-01T02:00:00.000Z", "series": "v1 production", "value": 0.8},
        {"x": "2026-12-01T01:00:00.000Z", "series": "v2 canary", "value": 0.7},
        {"x": "2026-12-01T02:00:00.000Z", "series": "v2 canary", "value": 0.75},
    ]
    main, rule, text = spec["layer"]
    assert main["mark"]["type"] == "line" and main["encoding"]["x"]["type"] == "temporal"
    assert main["encoding"]["x"]["axis"]["format"] == "%H:%M"  # a 2-hour span: hours and minutes, no repeats
    assert rule["mark"]["type"] == "rule" and rule["data"]["values"] == [{"value": 0.75, "label": "minimum 0.75"}]
    assert text["encoding"]["text"] == {"field": "label"}
    assert spec["config"]["legend"]["labelLimit"] == 0  # legends never cut a name
    # Markdown: mermaid cannot skip a point, so each series gets its own block of its own buckets; no 0 invented
    md = "\n".join(mermaid(chart))
    assert "0, " not in md.split("y-axis")[1].split("```")[0].replace("0.", "")
    assert '  x-axis ["00:00", "02:00"]\n' in md and "  line [0.9, 0.8]" in md
    assert '  x-axis ["01:00", "02:00"]\n' in md and "  line [0.7, 0.75]" in md
    assert "  line [0.75, 0.75]" in md and "minimum 0.75 (flat line)" in md


def test_grouped_bars_sit_under_their_own_label_and_render_to_svg():
    chart = Chart("per class", "bar", ["fog", "rain"], {"HEAD": [0.1, 0.9], "workspace": [0.2, None]})
    spec = chart.spec()
    assert spec["layer"][0]["encoding"]["xOffset"] == {"field": "series", "sort": ["HEAD", "workspace"]}
    assert spec["layer"][0]["encoding"]["x"]["sort"] == ["fog", "rain"]
    assert len(spec["data"]["values"]) == 3
    from flowtide.report.vega import to_svg

    svg = to_svg(spec)
    assert svg.startswith("<svg") and svg.count("mark-rect role-mark") == 1
    assert ">HEAD</text>" in svg and ">workspace</text>" in svg  # both series in the legend


def test_heatmap_spec_has_one_cell_per_value_and_a_panel_per_series():
    chart = Chart(
        "confusion",
        "heatmap",
        ["rain", "sun"],
        {"a": [5, 1, 2, 9]},
        y=["rain", "sun"],
        y_label="count",
        x_label="predicted",
        y_label_rows="actual",
    )
    spec = chart.spec()
    assert spec["data"]["values"] == [
        {"series": "a", "x": "rain", "y": "rain", "value": 5},
        {"series": "a", "x": "sun", "y": "rain", "value": 1},
        {"series": "a", "x": "rain", "y": "sun", "value": 2},
        {"series": "a", "x": "sun", "y": "sun", "value": 9},
    ]
    assert spec["facet"]["column"]["field"] == "series"
    assert [layer["mark"]["type"] for layer in spec["spec"]["layer"]] == ["rect", "text"]
    md = "\n".join(mermaid(chart))
    assert "| **rain** | 5 | 1 |" in md and "| **sun** | 2 | 9 |" in md


def test_a_lead_finding_comes_first_with_its_statistics():
    from rich.console import Console

    canary = Finding(
        "pass",
        "weather canary v2",
        "canary verdict",
        "promote: canary accuracy 0.660 vs production 0.600",
        details={
            "verdict": "promote",
            "labelled": {"canary": 2000, "production": 2000},
            "test": {
                "metric": "accuracy",
                "canary": 0.66,
                "production": 0.6,
                "worse_by": -0.06,
                "lower": -0.08,
                "upper": -0.04,
                "margin": 0.02,
            },
        },
        lead=True,
    )
    report = Report("monitor", "Monitor: no drift", findings=[Finding("pass", "w", "input drift", "ok"), canary])
    md = report.to_markdown().splitlines()
    assert md[4] == "### ✅ canary verdict: **PROMOTE** (weather canary v2)"
    assert "| 0.66 | 0.6 | -0.06 | -0.08 … -0.04 | 0.02 |" in md
    out = io.StringIO()
    report.render_terminal(Console(file=out, width=80))
    assert out.getvalue().splitlines()[1] == "canary verdict weather canary v2: PROMOTE"
