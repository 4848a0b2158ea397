"""report.html: the run's report as one self-contained page (Jinja2 template, no JavaScript).

Figures are inlined as ``data:image/png;base64`` URIs rather than linked: the page is a single
file that opens offline and can be mailed or moved on its own (the PNG files stay in the
report folder for report.md and for reuse). The page is rendered from the same
:func:`~skreid.cli.report.report_content` as report.md.
"""

import base64
import os
from importlib import resources

from skreid.cli.report._content import report_content

TEMPLATE = "report.html.jinja"


def _environment():
    try:
        import jinja2
    except ImportError as exc:  # a core dependency; missing only after `pip install --no-deps`
        raise ImportError(
            "report.html needs Jinja2, a dependency of skreid: pip install 'jinja2>=3.1'"
        ) from exc
    source = resources.files("skreid.cli.report").joinpath("templates", TEMPLATE).read_text("utf-8")
    # autoescape: captions, paths and estimator reprs are text, never markup
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.from_string(source)


def data_uri(path):
    """``data:image/png;base64,...`` of a PNG file."""
    with open(path, "rb") as fh:
        return "data:image/png;base64," + base64.b64encode(fh.read()).decode("ascii")


def _value_attr(value):
    # exact numbers travel in a data attribute next to the rounded text (repr round-trips)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return repr(value)


def render_html(results, folder):
    """The text of report.html for ``results``; figures are read from ``folder``."""
    content = report_content(results)
    for sec in content["sections"]:
        for fig in sec["figures"]:
            fig["src"] = data_uri(os.path.join(folder, fig["file"]))
        for row in sec["table"]["rows"]:
            for cell in row:
                cell["attr"] = _value_attr(cell["value"])
    return _environment().render(**content)


__all__ = ["render_html", "data_uri", "TEMPLATE"]
