#!/usr/bin/env python3
"""report.html in a real browser (ctest ReportInBrowser).

Samples 12 Perov-5 test compositions with the shipped CSP model (a real
model's outputs, each beside its ground truth), opens the run's report.html
in headless Chromium and checks what the page itself records in
#xtd-status (no error, no console.error, no blocked request, the viewers
and plots drawn) and what a screenshot shows: the viewer's part of it holds
more than one colour. The screenshot is written as
report_screenshot.png in the current directory (the test's build folder).
Exits 77 (skipped) when no Chromium is installed.

    report_in_chromium.py XTALDIFF DATA_DIR MODELS_DIR
    report_in_chromium.py --time PAGE.html   # load time of a page, 3 runs
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

SKIP = 77


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_browser(browser, page, *flags):
    # Software WebGL (SwiftShader) stands in for a GPU; --virtual-time-budget
    # lets the page's timers and image decoding finish before the dump.
    command = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
               "--use-angle=swiftshader", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=8000",
               *flags, "file://" + os.path.abspath(page)]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def page_status(browser, page):
    r = run_browser(browser, page, "--dump-dom")
    m = re.search(r'<pre id="xtd-status">([^<]*)</pre>', r.stdout)
    if not m:
        raise AssertionError("no #xtd-status in the page's DOM; browser stderr:\n" + r.stderr[-3000:])
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")), r.stderr


def png_pixels(path):
    """RGB(A) rows of an 8-bit non-interlaced PNG (what Chromium writes)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG layout"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def colours_in(path, rect):
    width, height, channels, rows = png_pixels(path)
    x0, y0, w, h = rect
    seen = set()
    for y in range(max(0, y0), min(height, y0 + h)):
        row = rows[y]
        for x in range(max(0, x0), min(width, x0 + w), 3):
            seen.add(row[x * channels:x * channels + 3])
    return len(seen)


def check(xtaldiff, data_dir, models_dir):
    browser = chromium()
    if not browser:
        print("skipped: no Chromium (scripts/install_deps.sh --tests installs Debian's chromium)")
        return SKIP
    work = tempfile.mkdtemp(prefix="xtd_browser_")
    try:
        out = os.path.join(work, "run")
        subprocess.run([xtaldiff, "sample", "--model", os.path.join(models_dir, "perov5-csp.xtd"), "--from",
                        os.path.join(data_dir, "datasets/perov_5/test.csv.gz"), "--limit", "12", "--threads", "1",
                        "-q", "--out", out], check=True)
        page = os.path.join(out, "report.html")
        status, log = page_status(browser, page)
        print("page status:", json.dumps(status))
        assert status["ready"], status
        assert status["errors"] == [], status["errors"]
        for line in log.splitlines():  # what the browser itself logged from the page
            assert "Uncaught" not in line and "Refused to" not in line, line
        assert status["rows"] == 12, status
        assert status["viewers"] == 2, status  # the prediction and its ground truth
        assert status["plots"] >= 6, status    # density, volume, atoms, elements, space groups, RMS, ...
        assert status["viewer_colours"] > 1, status
        shot = os.path.abspath("report_screenshot.png")
        x, y, w, h = status["viewer_rect"]
        run_browser(browser, page, "--window-size=1400,%d" % (y + h + 40), "--screenshot=" + shot)
        n = colours_in(shot, status["viewer_rect"])
        print("screenshot:", shot, "- colours in the viewer:", n)
        assert n > 1, "the viewer is blank in the screenshot"
        print("ok")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def time_page(page):
    browser = chromium()
    if not browser:
        print("no Chromium")
        return SKIP
    for _ in range(3):
        status, _ = page_status(browser, page)
        print("rows %d: ready %s, page %d ms (script %d ms), errors %s" % (
            status["rows"], status["ready"], status["page_ms"], status["script_ms"], status["errors"]))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--time":
        sys.exit(time_page(sys.argv[2]))
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    sys.exit(check(*sys.argv[1:]))
