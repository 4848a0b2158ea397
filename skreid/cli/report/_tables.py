"""Tables of a run's results: fixed-width text for the terminal, GitHub Markdown for report.md."""


def cell(value, column=""):
    """The text of one table cell: "-" for missing, seconds (``*_s``) with one decimal, other
    floats (fractions in [0, 1]) with three."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if column.endswith("_s") else f"{value:.3f}"
    return str(value)


def text_table(rows, columns, headers=None):
    """A fixed-width table of ``rows`` (dicts) for the terminal."""
    headers = headers or columns
    cells = [[cell(row.get(c), c) for c in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in
                     enumerate(zip(headers, widths, strict=True)))
    out = [line, "-" * len(line)]
    for r in cells:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                             enumerate(zip(r, widths, strict=True))))
    return "\n".join(out)


def markdown_table(rows, columns, headers=None):
    """The same table in GitHub Markdown."""
    headers = headers or columns
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    for row in rows:
        out.append("| " + " | ".join(cell(row.get(c), c) for c in columns) + " |")
    return "\n".join(out)
