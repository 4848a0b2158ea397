"""The results of ``skreid search``: the HTML page (each query beside its ranked gallery
crops) and the text on the terminal.

Images are embedded as ``data:`` URIs (re-encoded as small JPEG thumbnails), so the page is one
self-contained file that still shows every image when its folder is moved or sent elsewhere.
It shows the queries and only those gallery images that lie in the folders the index
records, signed by this user on this machine (:mod:`skreid.cli._origin`).
"""

import base64
import html
import io
import os
import struct

from skreid.cli._common import shown

THUMB_HEIGHT = 128
#: the largest image (width x height) a thumbnail is made of: 40 megapixels
MAX_PIXELS = 40_000_000

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
    """A ``data:image/jpeg;base64,...`` URI of the image at ``path``, ``height`` pixels high.

    Bounded: only a regular file is opened (a FIFO would block), an image over
    :data:`MAX_PIXELS` is refused from its header before any decoding (ValueError), and a JPEG
    is decoded at the smallest scale that still gives ``height`` pixels.
    """
    from PIL import Image

    from skreid.utils import open_regular

    # a regular file only: a gallery file swapped for a FIFO would block the page forever
    with open_regular(path, "image file") as fh, Image.open(fh) as img:
        w, h = img.size
        if w < 1 or h < 1 or w * h > MAX_PIXELS:
            raise ValueError(f"{shown(path)} is {w}x{h} pixels, too large to show")
        width = max(1, round(w * height / h))
        img.draft("RGB", (width, height))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
        thumb = img.convert("RGB").resize((width, height), Image.BILINEAR)
        buf = io.BytesIO()
        thumb.save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _unreadable_errors():
    from PIL import Image

    # what a damaged, truncated, odd or oversized image file raises while it is decoded
    return (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError,
            Image.DecompressionBombError)


def _figure(path, cls, lines, readable=True):
    name = html.escape(os.path.basename(shown(path)))
    if not readable:
        img = ('<div class="missing" title="not in a folder that you indexed on this machine">'
               f"(not shown: {name})</div>")
    else:
        try:
            src = thumbnail_uri(path)
            img = f'<img src="{src}" alt="{name}" title="{html.escape(shown(path))}">'
        except _unreadable_errors():  # deleted since it was indexed, damaged, too large
            img = f'<div class="missing">(cannot show: {name})</div>'
    caption = "<br>".join(html.escape(shown(line)) for line in lines)
    return f'<figure class="{cls}">{img}<figcaption>{caption}</figcaption></figure>'


def search_page(results, *, index_path, gallery_roots=(), title="skreid search"):
    """The page as a string. ``results`` is what ``skreid.cli._search.search_index`` gave.

    Query images are shown; a gallery image only when its path lies in ``gallery_roots``
    (the folders the index records, verified by ``skreid.cli._origin.verified_roots``):
    the page never reads a file just because an index names it.
    """
    from skreid.cli._origin import may_read

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
            cells.append(_figure(m["key"], cls, lines,
                                 readable=may_read(m["key"], gallery_roots)))
        rows.append('<div class="row">' + "".join(cells) + "</div>")
    legend = ("Frames: green = same identity as the query, red = another identity, grey = "
              "identity unknown. Gallery images are shown only from folders that you indexed "
              "on this machine.")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>Index: {html.escape(shown(index_path))} · "
            f"{len(results)} queries · {legend}</p>" + "\n".join(rows) + "</body></html>\n")


def text_results(results):
    """The ranked matches as text, one block per query (any path printable: see ``shown``)."""
    lines = []
    for r in results:
        head = f"query {shown(r['query'])}"
        if r["id"] is not None:
            head += f"  (id {shown(r['id'])}, camera {r['camera']})"
        lines.append(head)
        keys = [shown(m["key"]) for m in r["matches"]]
        width = max(map(len, keys)) if keys else 3
        lines.append(f"  {'rank':>4}  {'key':<{width}}  {'distance':>9}  {'id':>6}  {'camera':>6}")
        for m, key in zip(r["matches"], keys, strict=True):
            mark = {True: " ✓", False: " ✗", None: ""}[m["same_id"]]
            lines.append(f"  {m['rank']:>4}  {key:<{width}}  {m['distance']:>9.4f}  "
                         f"{'-' if m['id'] is None else shown(m['id']):>6}  "
                         f"{'-' if m['camera'] is None else m['camera']:>6}{mark}")
        lines.append("")
    return "\n".join(lines)
