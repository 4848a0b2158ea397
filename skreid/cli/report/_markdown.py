"""report.md, report.html and results.json of a CLI run, and its tables on the terminal."""

from skreid.cli._common import REPORT_FILE, RESULTS_FILE
from skreid.cli.report._content import TITLES, columns, method_rows, report_content
from skreid.cli.report._tables import markdown_table, text_table

HTML_FILE = "report.html"


def text_tables(results):
    """The comparison tables printed on the terminal."""
    out = []
    for problem in ("reid", "pets"):
        if problem in results:
            cols, heads = columns(problem)
            out.append(f"{TITLES[problem]}\n"
                       + text_table(method_rows(results[problem]), cols, heads))
    return "\n\n".join(out)


def render_markdown(results):
    """report.md: header, settings, then per problem its data, table, notes and figures.

    Rendered from :func:`~skreid.cli.report.report_content`, like report.html.
    """
    content = report_content(results)
    lines = [f"# {content['title']}", ""]
    lines += [f"- {label}: `{text}`" if label == "command" else f"- {label}: {text}"
              for label, text in content["header"]]
    lines.append("")
    if content["settings"]:
        lines += ["## Settings", ""] + [f"- {k}: {v}" for k, v in content["settings"]] + [""]
    for sec in content["sections"]:
        table = sec["table"]
        rows = [{cell["column"]: cell["text"] for cell in row} for row in table["rows"]]
        lines += [f"## {sec['title']}", "", f"Data: {sec['data']}", "",
                  markdown_table(rows, table["columns"], table["headers"]), ""]
        lines += [*(f"{note}" for note in sec["notes"]), ""]
        for warning in sec["warnings"]:
            lines += [f"*{warning}*", ""]
        for fig in sec["figures"]:
            lines += [f"![{fig['caption']}]({fig['file']})", "",
                      f"*Figure {fig['number']}. {fig['caption']}*", ""]
        if sec["estimators"]:
            lines += ["Estimators (parameters that differ from the defaults):", ""]
            for name, text in sec["estimators"]:
                lines += [f"- {name}:", "", "  ```", *(f"  {t}" for t in text.splitlines()),
                          "  ```", ""]
    if content["saved_models"]:
        lines += ["## Saved models", ""]
        lines += [f"- `{path}`" + (f" (model card `{card}`)" if card else "")
                  for path, card in content["saved_models"]] + [""]
    lines += ["## Files", ""] + [f"- `{name}`" for name in content["files"]] + [""]
    return "\n".join(lines)


def write_report(folder, results):
    """Write report.md, report.html and results.json into the (temporary) report folder."""
    from skreid.cli.report._html import render_html

    results["files"] = sorted(set(folder.files) | {REPORT_FILE, HTML_FILE, RESULTS_FILE})
    folder.write_text(REPORT_FILE, render_markdown(results))
    # the figures are already in the (temporary) folder: report.html inlines them from there
    folder.write_text(HTML_FILE, render_html(results, folder.tmp))
    folder.write_json(RESULTS_FILE, results)


def hardware():
    import os

    return f"{os.cpu_count()} CPU cores, no GPU used"


def summary(results):
    """The machine-readable result printed by --json (no per-epoch curves, no CMC arrays)."""
    slim = {k: v for k, v in results.items() if k not in ("reid", "pets")}
    for problem in ("reid", "pets"):
        if problem in results:
            section = results[problem]
            slim[problem] = {
                "data": section["data"],
                "methods": {m: {k: v for k, v in r.items() if k not in ("cmc", "history")}
                            for m, r in section["methods"].items()},
            }
    return slim


__all__ = ["render_markdown", "write_report", "text_tables", "summary", "hardware"]
