"""Everything the ``skreid`` command renders: the report of ``demo``/``reid``/``pets``
(report.md, report.html from its Jinja2 template, the tables on the terminal, the ``--json``
summary) and the results of ``skreid search`` (its HTML page, its text).

Renderers take the run's results (plain dicts, what results.json holds) and return text; the
commands decide where it goes. report.md and report.html are both rendered from
:func:`report_content`, so they cannot disagree.
"""

from skreid.cli.report._content import (
    PETS_COLUMNS,
    RANDOM_INIT,
    REID_COLUMNS,
    columns,
    report_content,
    settings_of,
    versions,
)
from skreid.cli.report._html import TEMPLATE, data_uri, render_html
from skreid.cli.report._markdown import (
    hardware,
    render_markdown,
    summary,
    text_tables,
    write_report,
)
from skreid.cli.report._search_page import search_page, text_results, thumbnail_uri
from skreid.cli.report._tables import markdown_table, text_table

__all__ = [
    "PETS_COLUMNS", "RANDOM_INIT", "REID_COLUMNS", "TEMPLATE", "columns", "data_uri", "hardware",
    "markdown_table", "render_html", "render_markdown", "report_content", "search_page",
    "settings_of", "summary", "text_results", "text_table", "text_tables", "thumbnail_uri",
    "versions", "write_report",
]
