"""One report model, four renderings: terminal (rich), JSON, Markdown, self-contained HTML.

Every command that judges something (check, diff, gate, monitor) builds a :class:`Report`
(``model``). Each rendering is its own module: ``terminal`` (rich, imported lazily), ``json``,
``markdown`` (charts as mermaid ``xychart-beta`` blocks, which GitHub renders, so nothing is
uploaded anywhere) and ``html`` (one self-contained page; charts are inline SVG,
styles from ``report.css``), so the file opens offline and can be published as a CI artifact.
Charts are Vega-Lite specs (``vega``) rendered to static SVG offline by vl-convert.
"""

from .model import Chart, Finding, Report, Status, Table

__all__ = ["Chart", "Finding", "Report", "Status", "Table"]
