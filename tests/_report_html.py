"""Checks of a CLI run's report.html shared by the CLI tests: it parses as HTML, embeds every
figure the run drew as a real PNG, shows the numbers of results.json, and renders in headless
Chromium.

The browser check by hand (what the slow test runs)::

    skreid demo --size tiny --out /tmp/skreid-tiny
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \\
        --screenshot=/tmp/skreid-tiny.png --window-size=1200,3000 \\
        file:///tmp/skreid-tiny/report.html
"""

import base64
import binascii
import io
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}
PNG_PREFIX = "data:image/png;base64,"


class ReportPage(HTMLParser):
    """report.html parsed with html.parser: images, table cells, text; every end tag must
    close the element it matches (a truncated or mangled page fails)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors = [], []
        self.images, self.cells, self.text, self.urls = [], [], [], []
        self._table = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [attrs[k] for k in ("href", "src") if k in attrs]
        if tag not in _VOID:
            self.stack.append(tag)
        if tag == "img":
            self.images.append(attrs)
        elif tag == "table":
            self._table = attrs.get("id")
        elif tag == "tr":
            self._row = []
        elif tag == "td":
            self._cell = {**attrs, "table": self._table, "text": ""}

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "td" and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row:
            method = self._row[0]["text"]
            self.cells += [dict(c, method=method) for c in self._row]
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data


def parse_report(folder):
    """Parse ``folder/report.html``; fails on unbalanced tags or scripts."""
    with open(os.path.join(folder, "report.html"), encoding="utf-8") as fh:
        source = fh.read()
    page = ReportPage()
    page.feed(source)
    page.close()
    assert source.lstrip().lower().startswith("<!doctype html>")
    assert page.errors == [] and page.stack == [], (page.errors, page.stack)
    assert "<script" not in source.lower()  # no JavaScript
    # offline: nothing to fetch, only in-page anchors and embedded images
    outside = [u for u in page.urls if not u.startswith(("#", PNG_PREFIX))]
    assert outside == [], outside
    assert "url(" not in source  # no stylesheet resources either
    page.source = source
    return page


def decode_png(src):
    """The PNG bytes of a data URI (asserting it is one and that PIL reads a real image)."""
    assert src.startswith(PNG_PREFIX), src[:40]
    try:
        data = base64.b64decode(src[len(PNG_PREFIX):], validate=True)
    except binascii.Error as exc:  # pragma: no cover - a failing check
        raise AssertionError(f"img src is not valid base64: {exc}") from None
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        im.load()  # decodes every pixel: a truncated image fails here
        assert im.size[0] > 10 and im.size[1] > 10
    return data


def check_report(folder):
    """All the checks against results.json; returns (page, results)."""
    with open(os.path.join(folder, "results.json"), encoding="utf-8") as fh:
        results = json.load(fh)
    page = parse_report(folder)
    assert "report.html" in results["files"]
    # every <img> is an embedded PNG, and every figure the run drew is one of them
    embedded = [decode_png(img["src"]) for img in page.images]
    drawn = [name for p in ("reid", "pets") if p in results for name, _ in results[p]["figures"]]
    assert drawn and len(embedded) == len(drawn)
    for name in drawn:
        with open(os.path.join(folder, name), "rb") as fh:
            assert fh.read() in embedded, f"{name} is not embedded in report.html"
    text = " ".join(page.text)
    for p in ("reid", "pets"):
        for _, caption in results.get(p, {}).get("figures", []):
            assert caption in text and "Look for:" in caption
    assert_same_numbers(page, results)
    assert results["argv"] in text and results["skreid_version"] in text
    return page, results


def assert_same_numbers(page, results):
    """Each numeric table cell carries the exact value of results.json and shows it rounded
    the way the terminal table does; every number of the tables is there."""
    seen = 0
    for cell in page.cells:
        if "data-value" not in cell:
            continue
        problem = cell["table"].removesuffix("-table")
        row = results[problem]["methods"][cell["method"]]
        value = row[cell["data-column"]]
        assert float(cell["data-value"]) == value, (cell, value)
        digits = 1 if cell["data-column"].endswith("_s") else 3
        assert cell["text"] == f"{value:.{digits}f}", (cell, value)
        seen += 1
    from skreid.cli.report import columns

    expected = sum(isinstance(results[p]["methods"][m].get(c), (int, float))
                   for p in ("reid", "pets") if p in results
                   for m in results[p]["methods"] for c in columns(p)[0])
    assert seen == expected > 0


def screenshot(folder, out_png, *, width=1200, height=3000, timeout=180):
    """Render ``folder/report.html`` in headless Chromium and save a screenshot."""
    url = "file://" + os.path.abspath(os.path.join(folder, "report.html"))
    profile = out_png + ".profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={out_png}",
           f"--window-size={width},{height}", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0 and os.path.isfile(out_png), proc.stderr[-2000:]
    shutil.rmtree(profile, ignore_errors=True)
    return out_png


def assert_not_blank(png, *, min_ink=0.03, min_colours=5000):
    """The screenshot shows a page with its figures: enough non-white pixels (text, tables)
    and many distinct colours. Text, tables and broken-image icons give about 1,200
    (measured: the tiny demo's page with its images removed); the figures give tens of
    thousands (27,800 for the tiny demo, 58,400 for Market-1501 photos)."""
    with Image.open(png) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.int32)
    dark = rgb.min(axis=2) < 200
    ink = float(np.mean(dark))
    flat = rgb.reshape(-1, 3)
    colours = len(np.unique((flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]))
    assert ink > min_ink, f"screenshot nearly blank: {ink:.3%} non-white pixels"
    assert colours > min_colours, f"no figure visible: only {colours} distinct colours"
    # content reaches down the page, not only a header
    rows = np.flatnonzero(dark.any(axis=1))
    assert rows.max() - rows.min() > rgb.shape[0] // 2
    return ink, colours
