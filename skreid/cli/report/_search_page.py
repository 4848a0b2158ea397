"""The results of ``skreid search``: the HTML page (each query beside its ranked gallery
crops) and the text on the terminal.

Images are embedded as ``data:`` URIs (re-encoded as small JPEG thumbnails), so the page is one
self-contained file that still shows every image when its folder is moved or sent elsewhere.
"""

import base64
import html
import io
import os

THUMB_HEIGHT = 128

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
h1 { font-size: 1.3em; } .row { display: flex; align-items: flex-start; gap: 10px;
  margin: 0 0 18px 0; padding: 8px; background: white; border: 1px solid #ddd; }
figure { margin: 0; text-align: center; font-size: 11px; max-width: 110px; }
figure img { height: 128px; border: 4px solid #bbb; display: block; margin: 0 auto 3px; }
figure.query img { border-color: #222; } figure.match img { border-color: #2a2; }
figure.miss img { border-color: #d22; } figcaption { word-break: break-all; }
.sep { width: 2px; align-self: stretch; background: #ccc; margin: 0 6px; }
"""


def thumbnail_uri(path, height=THUMB_HEIGHT):
    """A ``data:image/jpeg;base64,...`` URI of the image at ``path``, ``height`` pixels high."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        w, h = img.size
        img = img.resize((max(1, round(w * height / h)), height), Image.BILINEAR)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(path, cls, lines):
    name = html.escape(os.path.basename(path))
    try:
        src = thumbnail_uri(path)
        img = f'<img src="{src}" alt="{name}" title="{html.escape(path)}">'
    except (OSError, ValueError):  # a gallery file deleted since it was indexed
        img = f'<div class="missing">(missing: {name})</div>'
    caption = "<br>".join(html.escape(str(line)) for line in lines)
    return f'<figure class="{cls}">{img}<figcaption>{caption}</figcaption></figure>'


def search_page(results, *, index_path, title="skreid search"):
    """The page as a string. ``results`` is what ``skreid.cli._search.search_index`` gave."""
    rows = []
    for r in results:
        q_lines = [os.path.basename(r["query"]), "query"]
        if r["id"] is not None:
            q_lines.append(f"id {r['id']} · cam {r['camera']}")
        cells = [_figure(r["query"], "query", q_lines), '<div class="sep"></div>']
        for m in r["matches"]:
            cls = {True: "match", False: "miss", None: "unknown"}[m["same_id"]]
            lines = [f"#{m['rank']} {os.path.basename(m['key'])}", f"d = {m['distance']:.4f}"]
            lines.append(f"id {'?' if m['id'] is None else m['id']} · cam "
                         f"{'?' if m['camera'] is None else m['camera']}")
            cells.append(_figure(m["key"], cls, lines))
        rows.append('<div class="row">' + "".join(cells) + "</div>")
    legend = ("Frames: green = same identity as the query, red = another identity, grey = "
              "identity unknown.")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>Index: {html.escape(str(index_path))} · "
            f"{len(results)} queries · {legend}</p>" + "\n".join(rows) + "</body></html>\n")


def text_results(results):
    """The ranked matches as text, one block per query."""
    lines = []
    for r in results:
        head = f"query {r['query']}"
        if r["id"] is not None:
            head += f"  (id {r['id']}, camera {r['camera']})"
        lines.append(head)
        width = max(len(m["key"]) for m in r["matches"]) if r["matches"] else 3
        lines.append(f"  {'rank':>4}  {'key':<{width}}  {'distance':>9}  {'id':>6}  {'camera':>6}")
        for m in r["matches"]:
            mark = {True: " ✓", False: " ✗", None: ""}[m["same_id"]]
            lines.append(f"  {m['rank']:>4}  {m['key']:<{width}}  {m['distance']:>9.4f}  "
                         f"{'-' if m['id'] is None else m['id']:>6}  "
                         f"{'-' if m['camera'] is None else m['camera']:>6}{mark}")
        lines.append("")
    return "\n".join(lines)
