"""The course as a website (``book/``): built offline from the committed notebooks with the
README's command, then read as a learner would, in Chromium with the network blocked.

* The build: no Sphinx warning; every course notebook is a page and the instructors' solved
  sources are not in the site at all (no solution or hidden-test line of theirs on any page);
  no broken internal link or anchor; nothing loaded from another host; MathJax served with the
  site; at least one static dashboard per chapter, each frame on disk at twice its display size.
* The browser (Debian's Chromium through Playwright, every request outside the local server
  refused and reported): the start page and one page per chapter load with no console error
  and no failed request, every formula is typeset, no picture is enlarged, moving a static
  slider with the keyboard changes the figure and its readout, and the search finds a notebook.
  Screenshots go to ``build/screenshots/``.

They take a few minutes, so they run when ``EDULIB_BOOK=1`` (CI sets it after building the site
with the README's command); the browser part also needs the ``browser`` extra and Chromium.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import subprocess
import sys
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "book"
SHOTS = ROOT / "build" / "screenshots"
COMMAND = 'python -m pip install -e ".[book]" && python -m sphinx -b html book build/book'
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
CHAPTER_PAGES = ["course/01_losses/01_regression_losses.html",
                 "course/02_gradient_descent/01_gd_learning_rate.html",
                 "course/03_adaptive/01_momentum.html",
                 "course/04_second_order/01_hessian_critical_points.html",
                 "course/05_in_practice/01_hyperparameter_search.html"]
SCREENSHOT_PAGE = "course/02_gradient_descent/01_gd_learning_rate.html"
MS = 1000

pytestmark = pytest.mark.skipif(os.environ.get("EDULIB_BOOK") != "1",
                                reason="builds the website (a few minutes): set EDULIB_BOOK=1")


def _notebooks() -> list[Path]:
    return sorted((ROOT / "course").glob("0*/*.ipynb"))


@pytest.fixture(scope="module")
def build_log() -> str:
    """Every page read again (``-E``; the frames are reused when nothing they depend on
    changed), so that every warning shows."""
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-E", "book", str(SITE)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


class _Page(HTMLParser):
    """Links, resources, ids and text of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []      # <a href>
        self.loads: list[str] = []      # what the browser fetches: script, link, img, source ...
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        for key in ("src", "srcset", "data"):
            if a.get(key) and tag in ("script", "img", "source", "iframe", "embed", "object",
                                      "video", "audio", "input"):
                self.loads.append(a[key])
        if tag == "link" and a.get("href") and a.get("rel") not in ("canonical",):
            self.loads.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


@functools.cache
def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _pages() -> list[Path]:
    """The site's pages (not the theme's template fragments under _static)."""
    return sorted(p for p in SITE.rglob("*.html")
                  if not {".doctrees", "_static"} & set(p.relative_to(SITE).parts))


def test_readme_shows_the_command_ci_runs():
    assert COMMAND in (ROOT / "README.md").read_text()
    assert COMMAND in (ROOT / ".ci" / "run").read_text()


def test_the_build_leaves_no_warning(build_log):
    bad = [ln for ln in build_log.splitlines() if "WARNING" in ln or "ERROR" in ln]
    assert not bad, "\n".join(bad)


def test_every_notebook_is_a_page_and_no_instructor_source_is(build_log):
    pages = {p.relative_to(SITE).as_posix() for p in (SITE / "course").rglob("*.html")}
    wanted = {f"course/{nb.parent.name}/{nb.stem}.html" for nb in _notebooks()}
    assert wanted and pages == wanted | {"course/INSTRUCTORS.html"}
    assert not [p for p in SITE.rglob("*") if "instructor" in p.relative_to(SITE).parts]
    for nb in _notebooks():  # each page holds its notebook's title
        title = json.loads(nb.read_text())["cells"][0]["source"][0].lstrip("# ").strip()
        page = SITE / "course" / nb.parent.name / f"{nb.stem}.html"
        text = html.unescape(page.read_text(encoding="utf-8")).replace("\u2019", "'")
        assert title in text, (nb, title)


def _regions(src: str) -> list[str]:
    return re.findall(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END (?:SOLUTION|HIDDEN TESTS)",
                      src, flags=re.S)


def test_exercises_pages_are_the_learner_versions(build_log):
    """No line of a solution or a hidden test of the solved sources is on any page (a line
    that a course notebook shows anyway, like a signature or a lesson's own code, does not
    count)."""
    sources = sorted((ROOT / "course" / "instructor" / "source").glob("*/*.ipynb"))
    assert len(sources) == len({nb.parent.name for nb in _notebooks()})  # one per chapter
    shown = "\n".join("".join(c["source"]) for nb in _notebooks()
                      for c in json.loads(nb.read_text())["cells"])
    site_text = {p: "".join(_parse(p).text) for p in _pages()}
    for src_path in sources:
        secret = set()
        for cell in json.loads(src_path.read_text())["cells"]:
            for region in _regions("".join(cell["source"])):
                secret |= {ln.strip() for ln in region.splitlines()
                           if len(ln.strip()) >= 12 and ln.strip() not in shown}
        assert len(secret) >= 5, src_path  # the check has something to look for
        page = SITE / "course" / src_path.parent.name / f"{src_path.stem}.html"
        assert "raise NotImplementedError()" in site_text[page]  # the learner's version is shown
        leaks = [(p.relative_to(SITE), ln) for p, text in site_text.items() for ln in secret
                 if ln in text]
        assert not leaks, leaks[:5]
        assert "### BEGIN" not in site_text[page] and "HIDDEN TESTS" not in site_text[page]
    for nb in _notebooks():  # a lesson's practice solutions are folded: try first
        cells = json.loads(nb.read_text())["cells"]
        folded = sum("### BEGIN SOLUTION" in "".join(c["source"]) for c in cells
                     if c["cell_type"] == "code")
        page = (SITE / "course" / nb.parent.name / f"{nb.stem}.html").read_text(encoding="utf-8")
        assert page.count("Show the solution") == folded, nb


def _local(url: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", url, flags=re.I)


def test_no_broken_internal_link_and_nothing_from_another_host(build_log):
    broken, outside = [], []
    for page in _pages():
        parsed = _parse(page)
        for url in parsed.links + parsed.loads:
            if url.startswith(("mailto:", "data:", "javascript:")):
                continue
            if not _local(url):
                if url in parsed.loads:
                    outside.append((page.relative_to(SITE), url))
                continue
            parts = urlsplit(url)
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if not target.exists():
                broken.append((page.relative_to(SITE), url))
            elif parts.fragment and target.suffix == ".html" and \
                    unquote(parts.fragment) not in _parse(target).ids:
                broken.append((page.relative_to(SITE), url))
    assert not broken, broken[:10]
    assert not outside, outside[:10]
    for css in (SITE / "_static").rglob("*.css"):  # fonts and images from a style sheet
        assert not re.search(r"url\(\s*['\"]?https?:", css.read_text(errors="replace")), css


def test_math_is_served_with_the_site(build_log):
    assert (SITE / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert list((SITE / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob(
        "*.woff"))
    with_math = [p for p in _pages() if 'class="math' in p.read_text(encoding="utf-8")]
    assert {f"{nb.stem}.html" for nb in _notebooks()} <= {p.name for p in with_math}
    for page in with_math:
        loads = _parse(page).loads
        assert any(u.split("?")[0].endswith("_static/mathjax/tex-chtml.js") for u in loads), page


def test_a_static_dashboard_in_every_chapter(build_log):
    chapters = {nb.parent.name for nb in _notebooks()}
    with_frames = set()
    for page in (SITE / "course").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for payload in re.findall(r'<script type="application/json" class="sd-data">(.*?)</script>',
                                  text, flags=re.S):
            data = json.loads(payload.replace("<\\/", "</"))
            with_frames.add(page.parent.name)
            n = 1
            for s in data["sliders"]:
                n *= len(s["labels"])
                assert len(set(s["labels"])) == len(s["labels"]) >= 2
            assert len(data["frames"]) == n >= 4
            folder = (page.parent / data["base"]).resolve()
            meta = json.loads((folder / "frames.json").read_text())
            from PIL import Image  # matplotlib's dependency

            for f in data["frames"]:
                with Image.open(folder / f["file"]) as im:
                    assert im.size == (2 * meta["width"], 2 * meta["height"]), f["file"]
            assert "precomputed" in text
        # a dashboard without frames says it needs a kernel; no widget shows as raw text
        assert "Dashboard(children=" not in text and "VBox(children=" not in text, page
    assert with_frames == chapters


def test_start_page_has_the_map_the_commands_and_the_instructors_page(build_log):
    text = " ".join(html.unescape("".join(_parse(SITE / "index.html").text)).split())
    links = _parse(SITE / "index.html").links
    for nb in _notebooks():
        assert f"course/{nb.parent.name}/{nb.stem}.html" in links, nb
    chapters = {nb.parent.name for nb in _notebooks()}
    assert text.count("Prerequisites.") == len(chapters) and "words a minute" in text
    assert len(re.findall(r"\b\d+ min\b|\b\d+ h( \d\d)?\b", text)) >= len(_notebooks())
    readme = (ROOT / "README.md").read_text()
    for command in re.findall(r"^```bash\n(.+?)\n```", readme, flags=re.M | re.S):
        assert command in text
    assert "course/INSTRUCTORS.html" in links
    assert (SITE / "searchindex.js").is_file()


# --------------------------------------------------------------------------- in the browser
@pytest.fixture(scope="module")
def browser_page(build_log):
    playwright = pytest.importorskip("playwright.sync_api", reason="the browser extra")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900},
                                      device_scale_factor=1)
        outside: list[str] = []

        def only_local(route):
            url = route.request.url
            if url.startswith(base) or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        context.route("**/*", only_local)
        page = context.new_page()
        log: list[str] = []
        page.on("console", lambda m: log.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: log.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: log.append(f"request failed: {r.url}"))
        page.on("response", lambda r: log.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 else None)
        try:
            yield page, base, log, outside
        finally:
            browser.close()
            server.shutdown()


def _open(page, url: str) -> None:
    page.goto(url, wait_until="load", timeout=120 * MS)
    page.wait_for_function(  # MathJax done: every formula typeset (a page may have none)
        "() => document.querySelectorAll('.math').length === "
        "document.querySelectorAll('.math mjx-container').length", timeout=120 * MS)


def _check_page(page, math: bool) -> None:
    counts = page.evaluate(
        "() => ({math: document.querySelectorAll('.math mjx-container').length,"
        " errors: document.querySelectorAll('mjx-merror').length})")
    assert (counts["math"] > 0) == math and counts["errors"] == 0, counts
    page.evaluate("() => Promise.all(Array.from(document.images).map(i => i.decode()"
                  ".catch(() => null)))")
    enlarged = page.evaluate(
        "() => Array.from(document.images).filter(i => i.getBoundingClientRect().width > 0 && "
        "i.naturalWidth < i.getBoundingClientRect().width * devicePixelRatio - 0.5)"
        ".map(i => [i.src, i.naturalWidth, i.getBoundingClientRect().width])")
    assert not enlarged, enlarged  # every picture at its own size or smaller: sharp


def _move_first_slider(page, steps: int, name: str | None = None) -> tuple[bytes, bytes]:
    """Screenshot the first static dashboard's figure, press the right arrow ``steps`` times on
    its first slider, screenshot again; returns both pictures."""
    dash = page.locator("[data-static-dashboard].sd-ready").first
    dash.scroll_into_view_if_needed()
    frame = dash.locator("img.sd-frame")
    before, readout = frame.screenshot(), dash.locator(".sd-readout").inner_text()
    if name:
        page.screenshot(path=str(SHOTS / f"{name}-a.png"), clip=_clip(page, dash))
    src = frame.get_attribute("src")
    slider = dash.locator("input[type=range]").first
    slider.focus()
    for _ in range(steps):
        slider.press("ArrowRight")
    page.wait_for_function("([img, old]) => img.getAttribute('src') !== old && img.complete && "
                           "img.naturalWidth > 0", arg=[frame.element_handle(), src],
                           timeout=60 * MS)
    assert dash.locator(".sd-readout").inner_text() != readout
    after = frame.screenshot()
    if name:
        page.screenshot(path=str(SHOTS / f"{name}-b.png"), clip=_clip(page, dash))
    return before, after


def _clip(page, dash) -> dict:
    """The dashboard and the code cell above it, across the page."""
    box = dash.bounding_box()
    top = max(0.0, box["y"] - 120)
    return {"x": 0, "y": top, "width": page.viewport_size["width"],
            "height": min(box["y"] + box["height"] + 10, page.viewport_size["height"]) - top}


def test_pages_load_offline_with_math_and_moving_sliders(browser_page):
    page, base, log, outside = browser_page
    SHOTS.mkdir(parents=True, exist_ok=True)
    _open(page, base + "index.html")
    _check_page(page, math=False)
    page.screenshot(path=str(SHOTS / "start.png"), full_page=True)
    for url in CHAPTER_PAGES:
        _open(page, base + url)
        _check_page(page, math=True)
        name = "dashboard" if url == SCREENSHOT_PAGE else None
        before, after = _move_first_slider(page, 6 if name else 1, name)
        assert before != after, url  # another figure is shown
    assert not log, log
    assert not outside, outside


def test_search_finds_a_notebook_offline(browser_page):
    page, base, log, outside = browser_page
    page.goto(base + "search.html?q=Huber", wait_until="load", timeout=120 * MS)
    hits = page.locator("#search-results ul.search li a")
    hits.first.wait_for(timeout=120 * MS)
    links = [hits.nth(i).get_attribute("href") for i in range(hits.count())]
    assert any("01_regression_losses" in h for h in links), links
    assert not log, log
    assert not outside, outside
