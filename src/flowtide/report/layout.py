"""Tables laid out for a terminal of a given width: what a user copies is never cut, long text goes under the row.

Plain text, no rich (the terminal rendering wraps it for rich). One style for every table flowtide prints (report findings, ``runs``, ``models``, ``monitor``): columns
empty in every row are dropped; numbers and ``keep`` columns (ids, versions, hashes) are never wrapped or
cut; other columns wrap onto continuation lines when the table is too wide; ``under`` columns (messages)
are printed below their row, indented, wrapped to the width.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GAP = "  "
INDENT = "    "


@dataclass
class Line:
    text: str
    row: int | None = None
    """The row index whose first line this is (None: the header, a continuation or an under-line)."""
    kind: str = "row"
    """header, row, more (a wrapped continuation) or under."""


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("%"))
    except ValueError:
        return False
    return True


def _widths(
    columns: Sequence[str], rows: list[list[str]], inline: list[int], keep: set[str], width: int
) -> tuple[dict[int, int], set[int]]:
    """Column widths for ``inline`` at ``width`` and the columns that never wrap (ids, numbers, short values)."""
    cell_w = {i: max(len(row[i]) for row in rows) for i in inline}
    word_w = {i: max((len(w) for w in columns[i].split()), default=0) for i in inline}
    fixed = {
        i for i in inline if columns[i] in keep or all(_is_number(row[i]) for row in rows if row[i]) or cell_w[i] <= 8
    }
    widths = {i: max(len(columns[i]), cell_w[i]) for i in inline}
    # a fixed column may only wrap its header; the others wrap, down to 8 or their longest word
    cell_word = {i: min(20, max((len(w) for row in rows for w in row[i].split()), default=0)) for i in inline}
    floor = {
        i: max(cell_w[i], word_w[i]) if i in fixed else max(word_w[i], cell_word[i], min(8, widths[i])) for i in inline
    }
    while sum(widths.values()) + len(GAP) * (len(widths) - 1) > width:
        shrinkable = [i for i in inline if widths[i] > floor[i]]
        if not shrinkable:
            break
        flexible = [i for i in shrinkable if i not in fixed] or shrinkable
        widest = max(flexible, key=lambda i: widths[i] - floor[i] if i in fixed else widths[i])
        widths[widest] -= 1
    return widths, fixed


def layout(
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    width: int = 80,
    *,
    keep: Iterable[str] = (),
    under: Iterable[str] = (),
) -> list[Line]:
    """The lines of a table at ``width`` columns (see the module docstring)."""
    rows = [["" if c is None else str(c) for c in row] for row in rows]
    keep, under = set(keep), set(under)
    present = [i for i, name in enumerate(columns) if any(row[i] for row in rows)]
    below = [i for i in present if columns[i] in under]
    while True:
        inline = [i for i in present if i not in below]
        widths, fixed = _widths(columns, rows, inline, keep, width)
        if sum(widths.values()) + len(GAP) * (len(widths) - 1) <= width or len(inline) <= 1:
            break
        # still too wide: a column that is not an id moves under its row (text first, then the rightmost number)
        movable = [i for i in inline if columns[i] not in keep and i != inline[0]]
        if not movable:
            break  # what is left is ids: wider than the terminal rather than cut
        text = [i for i in movable if i not in fixed]
        below.append(max(text, key=lambda i: widths[i]) if text else movable[-1])
    below.sort()
    heads = {i: textwrap.wrap(columns[i], widths[i]) or [""] for i in inline}
    lines = [
        Line(
            GAP.join((heads[i][k] if k < len(heads[i]) else "").ljust(widths[i]) for i in inline).rstrip(),
            kind="header",
        )
        for k in range(max((len(h) for h in heads.values()), default=1))
    ]
    for r, row in enumerate(rows):
        cells = {
            i: (textwrap.wrap(row[i], widths[i], break_on_hyphens=False) or [""]) if i not in fixed else [row[i]]
            for i in inline
        }
        height = max(len(c) for c in cells.values()) if cells else 1
        for k in range(height):
            text = GAP.join((cells[i][k] if k < len(cells[i]) else "").ljust(widths[i]) for i in inline)
            lines.append(Line(text.rstrip(), r if k == 0 else None, "row" if k == 0 else "more"))
        labelled = [i for i in below if columns[i] not in under or len(below) > 1]
        notes = [f"{columns[i]}: {row[i]}" if i in labelled else row[i] for i in below if row[i]]
        if notes:
            wrapped = textwrap.wrap(
                " · ".join(notes), max(width - len(INDENT), 20), initial_indent=INDENT, subsequent_indent=INDENT
            )
            lines += [Line(w, kind="under") for w in wrapped]
    return lines


def render(
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    width: int = 80,
    *,
    keep: Iterable[str] = (),
    under: Iterable[str] = (),
) -> str:
    """The table as plain text."""
    return "\n".join(line.text for line in layout(columns, rows, width, keep=keep, under=under))
