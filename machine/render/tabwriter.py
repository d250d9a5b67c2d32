"""Go's text/tabwriter as docker-machine configures it for `ls` (minwidth 5, tabwidth 1,
padding 3, padded with spaces): tab-terminated cells are padded to their column's width; a
line's last cell is not. Columns are aligned over each block of consecutive lines that have
that column, as Go does."""

from __future__ import annotations

MIN_WIDTH = 5
PADDING = 3


def format_lines(lines: list[str]) -> str:
    if not any("\t" in line for line in lines):  # no cells to align (`ls --format` often)
        return "\n".join(lines) + ("\n" if lines else "")
    rows = [line.split("\t") for line in lines]
    widths: list[list[int]] = [[0] * (len(r) - 1) for r in rows]
    column = 0
    while True:
        # blocks of consecutive rows having a terminated cell in `column`
        have = [len(r) - 1 > column for r in rows]
        if not any(have):
            break
        i = 0
        while i < len(rows):
            if not have[i]:
                i += 1
                continue
            j = i
            while j < len(rows) and have[j]:
                j += 1
            width = max(MIN_WIDTH, max(len(rows[k][column]) for k in range(i, j)) + PADDING)
            for k in range(i, j):
                widths[k][column] = width
            i = j
        column += 1
    out = []
    for r, w in zip(rows, widths, strict=True):
        out.append("".join(cell.ljust(w[c]) for c, cell in enumerate(r[:-1])) + r[-1])
    return "\n".join(out) + ("\n" if out else "")
