"""The built book in a real browser: headless Chromium, fully offline.

`_build/html` (from `make book`) is served on 127.0.0.1 and every page is opened in Debian's
Chromium through Playwright (never `playwright install`: we use the system browser). Checks:

- every page: no request leaves 127.0.0.1 (they are blocked *and* fail the test), no local request
  fails (404 ...), no console error or uncaught exception (bar `KNOWN_CONSOLE_NOISE`), no nbdev
  `#|` directive text, every <img> loaded, every math element typeset by MathJax with no raw TeX
  delimiters left in the prose, every ipywidget view rendered by the html-manager;
- every page: a title (`<title>` and one `<h1>` in the article); no broken internal link (every
  `<a href>` to the site names a file that exists and, with a `#fragment`, an element with that id
  on that page); every figure captioned (`FIGURE_CAPTION_RULE` below, `test_figure_captions`);
- `CHAPTER_PAGE` (the coding-rate chapter): it has math, at least one figure, and an interactive
  widget (a slider or other control) that rendered;
- the search page works offline: Sphinx's search index loads and a query returns results whose
  links exist;
- every page, as read (`test_page_layout`, measured during `test_page`'s visit): at 1366x900 no display
  equation, table, code block or figure is wider than the text column unless it scrolls in its own
  box with a scrollbar drawn; every figure is shown large enough for its smallest text to be at least
  `MIN_TEXT_PX` px (`MIN_FIGURE_SCALE`); no "Figure..." caption without a figure before it; no
  *Paper vs numbers* box whose title ran into its text; no stray backtick (broken inline code) in the
  prose; at 390x844 (a phone) the page never scrolls sideways and the primary sidebar toggle opens the
  navigation;
- the notebooks' sources set no font size under `MIN_FONT_PT` (`test_figure_font_sizes`): together
  with `MIN_FIGURE_SCALE`, every figure's text is at least `MIN_TEXT_PX` px on the page;
- the notebooks' sources keep every private helper (a top-level `def _name` / `class _Name`) in a
  collapsed code cell that defines no public name (`test_private_helpers_are_collapsed`).

Pages are discovered from the build folder, so chapters added later are covered automatically.

Skips (visible in `pytest -ra`): no Chromium (`/usr/bin/chromium`, `chromium` on PATH, or the path
in `REDUNET_BOOK_CHROMIUM`); no Playwright; no built site (`_build/html`, or `REDUNET_BOOK_SITE`) -
unless `REDUNET_BOOK_REQUIRE_SITE=1` (set by `make test`), which turns a missing site into a failure.
"""

from __future__ import annotations

import ast
import functools
import http.server
import json
import re
import urllib.parse
import warnings
from pathlib import Path

import pytest
from browser_support import CHROMIUM_ARGS, SITE, LocalServer, built_site, chromium_or_skip

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]

# The chapter that must show math, a figure and a widget (one constant to change).
CHAPTER_PAGE = "nbs/01_coding_rate.html"

# Folders / pages of the build that are not book pages.
EXCLUDED_DIRS = {"_static", "_sources", "_images", "_downloads", "jupyter_execute", ".doctrees"}
EXCLUDED_PAGES = {"genindex.html", "search.html"}

# Console messages that are known to be harmless, as (regex, why). Keep this list minimal:
# sphinx-thebe (whose duplicated inline script makes "Identifier 'THEBE_JS_URL' has already been
# declared") is switched off in _config.yml, so nothing is whitelisted today.
KNOWN_CONSOLE_NOISE: tuple[tuple[str, str], ...] = ()

# The figure-caption rule (checked on every page, in the browser): every <img> of the article that
# is not part of a widget is captioned, i.e. one of
#   1. it sits in a <figure> with a non-empty <figcaption> (MyST `{figure}`, `{glue:figure}`);
#   2. the first element after its block - the notebook cell that produced it, or the paragraph
#      holding a markdown image - is a paragraph whose text starts with "Figure" / "Fig.";
#   3. a paragraph starting that way follows it inside the same cell output (a caption printed
#      with IPython.display.Markdown).
# Several images of one cell share the caption that follows the cell.
FIGURE_CAPTION_RULE = "a <figure> with <figcaption>, or a paragraph starting 'Figure' right after the cell/paragraph"
CAPTION_START = r"^\s*(Figures?|Fig\.)(\s|:|$)"
# What certainly is a caption, not prose that starts by naming a figure ("Fig. 4 of the paper shows"):
# "Figure: ...", "Figure (widget): ...", "Figure 3: ...". A paragraph like that must follow a figure.
CAPTION_LINE = r"^\s*(Figures?|Fig\.)(\s+\d+[a-z]?)?(\s*\([^)]*\))?\s*:"
# Pages known to break the figure-caption rule when it was introduced, as {page: why}: their test
# is an expected failure (reported by `pytest -ra` as XFAIL, and as XPASS once fixed - then remove
# the entry). New pages get no entry: the rule holds for them. The chapters describe their figures
# in the paragraph *before* the cell; the fix is a one-line "Figure: ..." paragraph after it.
FIGURE_CAPTION_KNOWN: dict[str, str] = {}   # page -> reason; empty: every page follows the rule

# Search: the query typed into the search page, and the least number of result pages expected.
SEARCH_QUERY = "rate reduction"
SEARCH_MIN_RESULTS = 1
SEARCH_TIMEOUT_MS = 30_000

NAV_TIMEOUT_MS = 60_000
WIDGET_TIMEOUT_MS = 30_000

# Layout (`test_page_layout`). The browser draws scrollbars as a desktop browser does: Playwright's
# headless default `--hide-scrollbars` is dropped, so that "a scrollbar is drawn" can be checked.
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
# Figure legibility. The figures are matplotlib PNGs at matplotlib's default 100 dpi (no notebook sets
# rcParams, and matplotlib-inline >= 0.1.4 no longer overrides them), and their text is at least
# MIN_FONT_PT points (00b_viz, "Legibility"; `test_figure_font_sizes` checks the sources). A PNG shown
# at displayed/natural width r draws s-point text s * FIGURE_DPI / 72 * r px high, so every figure
# must be shown at r >= MIN_FIGURE_SCALE for its smallest text to be MIN_TEXT_PX px or more.
FIGURE_DPI = 100
MIN_FONT_PT = 9
MIN_TEXT_PX = 9
MIN_FIGURE_SCALE = MIN_TEXT_PX / (MIN_FONT_PT * FIGURE_DPI / 72)   # 0.72
# Known layout problems of pages, as {page: {check: why}} (checks: LAYOUT_CHECKS). A page whose only
# problems are known is an expected failure (XFAIL); a known entry that no longer fails is reported as
# a warning (remove it). New pages get no entry.
LAYOUT_CHECKS = ("clipped", "figure_scale", "orphan_caption", "run_in_title", "stray_backtick",
                 "phone_scroll", "phone_sidebar")
LAYOUT_KNOWN: dict[str, dict[str, str]] = {}   # page -> {check: reason}; empty: every page passes
# Known notebooks with font sizes under MIN_FONT_PT, as {notebook: why} (expected failures).
FONT_SIZE_KNOWN: dict[str, str] = {}   # notebook -> reason; empty: every notebook follows the rule

WIDGET_VIEW_SCRIPT = 'script[type="application/vnd.jupyter.widget-view+json"]'
WIDGET_CONTROLS = (
    ".widget-slider, .widget-hslider, .widget-vslider, .widget-dropdown, .widget-toggle-buttons,"
    " .widget-radio, .widget-checkbox, .widget-select, .widget-play, .widget-text"
)




def site_pages() -> list[str]:
    """Book pages of the build, as paths relative to `_build/html` (posix)."""
    if not SITE.is_dir():
        return []
    pages = []
    for p in sorted(SITE.rglob("*.html")):
        rel = p.relative_to(SITE)
        if rel.parts[0] in EXCLUDED_DIRS or rel.as_posix() in EXCLUDED_PAGES:
            continue
        pages.append(rel.as_posix())
    return pages


def is_redirect_stub(page: str) -> bool:
    """Jupyter Book writes the root index.html as a bare meta-refresh to the first page."""
    text = (SITE / page).read_text(encoding="utf8", errors="replace")
    return 'http-equiv="Refresh"' in text and "<body" not in text.lower()


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def site_dir() -> Path:
    return built_site()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return chromium_or_skip()


class _Server(LocalServer):
    """`_build/html` on a threaded http.server at 127.0.0.1:<free port>; records error statuses."""

    def __init__(self, directory: Path):
        self.errors: list[tuple[int, str]] = []
        errors = self.errors

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-"):
                try:
                    status = int(code)
                except (TypeError, ValueError):
                    return
                if status >= 400:
                    errors.append((status, self.path))

            def log_message(self, format, *args):  # keep the test output quiet
                pass

        super().__init__(functools.partial(Handler, directory=str(directory)))
        self.base = self.origin + "/"


@pytest.fixture(scope="session")
def server(site_dir):
    with _Server(site_dir) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser_context(chromium_path, tmp_path_factory, playwright):
    user_data = tmp_path_factory.mktemp("chromium-profile")
    context = playwright.chromium.launch_persistent_context(
        str(user_data),
        executable_path=chromium_path,
        headless=True,
        args=CHROMIUM_ARGS,
        ignore_default_args=["--hide-scrollbars"],   # draw scrollbars, as a reader's browser does
        viewport=DESKTOP,
        service_workers="block",
    )
    context.set_default_timeout(NAV_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


class PageVisit:
    """One page opened in the browser, with everything it did on the way."""

    def __init__(self, context, server: _Server, page_path: str):
        self.url = server.base + page_path
        self._server, self._server_err0 = server, len(server.errors)
        self.external: list[str] = []
        self.failed: list[str] = []
        self.console_errors: list[str] = []
        self.widget_timeout = False
        self.page = context.new_page()

        def route(r):
            host = urllib.parse.urlsplit(r.request.url).hostname
            if host in ("127.0.0.1",):
                r.continue_()
            else:
                self.external.append(r.request.url)
                r.abort("blockedbyclient")

        self.page.route("**/*", route)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"uncaught: {exc}"))
        self.page.on("requestfailed", self._on_failed)
        self.page.on("response", self._on_response)

    def _on_console(self, msg):
        if msg.type == "error":
            loc = msg.location or {}
            self.console_errors.append(f"{msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})")

    def _on_failed(self, req):
        host = urllib.parse.urlsplit(req.url).hostname
        if host == "127.0.0.1":
            self.failed.append(f"{req.url}: {req.failure}")

    def _on_response(self, resp):
        if resp.status >= 400 and urllib.parse.urlsplit(resp.url).hostname == "127.0.0.1":
            self.failed.append(f"{resp.url}: HTTP {resp.status}")

    def open(self):
        self.page.goto(self.url, wait_until="load")
        # MathJax 3 is loaded with `defer`: once `load` fired it exists; wait for its first typeset.
        self.page.evaluate(
            """async () => {
                if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)
                    await window.MathJax.startup.promise;
            }"""
        )
        n_views = self.page.locator(WIDGET_VIEW_SCRIPT).count()
        if n_views:
            # the html-manager inserts a div.widget-subarea before each view script and fills it;
            # on a timeout carry on: the checks report what is missing and what went wrong
            from playwright.sync_api import TimeoutError as PlaywrightTimeout

            try:
                self.page.wait_for_function(
                    """(sel) => Array.from(document.querySelectorAll(sel)).every(s => {
                        const prev = s.previousElementSibling;
                        return prev && prev.classList.contains('widget-subarea')
                            && prev.querySelector('.jupyter-widgets');
                    })""",
                    arg=WIDGET_VIEW_SCRIPT,
                    timeout=WIDGET_TIMEOUT_MS,
                )
            except PlaywrightTimeout:
                self.widget_timeout = True
            # widgets typeset their labels through MathJax.Hub.Queue (book_ext/static/
            # widgets-offline.js), whose queue tail is MathJax.Hub.promise: wait until it is idle
            self.page.evaluate(
                """async () => {
                    const hub = window.MathJax && window.MathJax.Hub;
                    if (!hub || !hub.promise) return;
                    let p;
                    do { p = hub.promise; await p; await new Promise(r => setTimeout(r, 50)); }
                    while (p !== hub.promise);
                }"""
            )
        self.page.wait_for_load_state("networkidle")
        return self

    def close(self):
        self.page.close()

    def server_errors(self) -> list[str]:
        """What the server answered with an error status during this visit (its own log).

        A browser-initiated favicon probe is not a request of the page, so it does not count.
        """
        return [f"{path}: HTTP {status}" for status, path in self._server.errors[self._server_err0:]
                if path.split("?")[0] != "/favicon.ico"]

    # -- page facts -----------------------------------------------------------------------------

    def visible_text(self) -> str:
        """Text of the page, including collapsed (hidden) parts, without scripts and styles.

        Inline code literals and markdown code blocks (outside notebook cells) are left out: prose
        may quote a directive on purpose (`#| export`); a leaked one sits in a cell.
        """
        return self.page.evaluate(
            """() => {
                const c = document.body.cloneNode(true);
                c.querySelectorAll('script, style, noscript, template, code.literal')
                    .forEach(e => e.remove());
                c.querySelectorAll('div[class*="highlight-"]')
                    .forEach(e => { if (!e.closest('.cell')) e.remove(); });
                return c.textContent;
            }"""
        )

    def prose_text(self) -> str:
        """Text of the article minus code, typeset math and scripts: where raw TeX must not be."""
        return self.page.evaluate(
            """() => {
                const a = document.querySelector('article') || document.body;
                const c = a.cloneNode(true);
                c.querySelectorAll('script, style, pre, code, .highlight, mjx-container, mjx-assistive-mml')
                    .forEach(e => e.remove());
                return c.textContent;
            }"""
        )

    def math_status(self) -> dict:
        return self.page.evaluate(
            """() => {
                const maths = Array.from(document.querySelectorAll('article .math'));
                return {
                    n_math: maths.length,
                    n_untypeset: maths.filter(m => !m.querySelector('mjx-container')).length,
                    n_mjx: document.querySelectorAll('mjx-container').length,
                    mathjax_loaded: !!(window.MathJax && window.MathJax.version),
                    mathjax_errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
                };
            }"""
        )

    def images(self) -> list[dict]:
        return self.page.evaluate(
            """() => Array.from(document.querySelectorAll('article img')).map(i => ({
                src: i.getAttribute('src'), complete: i.complete, w: i.naturalWidth,
                in_output: !!i.closest('.cell_output, .output, .widget-subarea'),
            }))"""
        )

    def title_status(self) -> dict:
        return self.page.evaluate(
            """() => {
                const art = document.querySelector('article') || document.body;
                const h1 = Array.from(art.querySelectorAll('h1'));
                return {title: document.title, n_h1: h1.length,
                        h1: h1.map(h => h.textContent.replace(/[#¶]/g, '').trim())};
            }"""
        )

    def links(self) -> list[str]:
        """Every <a href> of the page, resolved by the browser to an absolute URL."""
        return self.page.evaluate(
            "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
        )

    def uncaptioned_images(self) -> list[str]:
        """The images of the article that break the figure-caption rule (`FIGURE_CAPTION_RULE`)."""
        return self.page.evaluate(
            """(start) => {
                const re = new RegExp(start);
                const art = document.querySelector('article') || document.body;
                const isCaption = e => !!e && re.test(e.textContent || '')
                    && (e.matches('p') || !!e.querySelector(':scope > p:first-child'));
                const bad = [];
                for (const img of art.querySelectorAll('img')) {
                    if (img.closest('.widget-subarea, .jupyter-widgets')) continue;
                    const fig = img.closest('figure');
                    if (fig) {
                        const cap = fig.querySelector('figcaption');
                        if (cap && cap.textContent.trim()) continue;
                    }
                    const cell = img.closest('div.cell');
                    if (cell && Array.from(cell.querySelectorAll('.cell_output p')).some(p =>
                            re.test(p.textContent)
                            && (img.compareDocumentPosition(p) & Node.DOCUMENT_POSITION_FOLLOWING))) continue;
                    const block = cell || fig || img.closest('p') || img;
                    let next = block.nextElementSibling;
                    while (next && next.matches('script, style, span:empty, div:empty')) next = next.nextElementSibling;
                    if (isCaption(next)) continue;
                    bad.push(img.getAttribute('src') || img.getAttribute('alt') || '<img>');
                }
                return bad;
            }""",
            CAPTION_START,
        )

    def widget_status(self) -> dict:
        return self.page.evaluate(
            """([viewSel, ctlSel]) => {
                const views = Array.from(document.querySelectorAll(viewSel));
                const areas = views.map(s => s.previousElementSibling)
                    .filter(p => p && p.classList.contains('widget-subarea'));
                return {
                    n_views: views.length,
                    n_rendered: areas.filter(a => a.querySelector('.jupyter-widgets')).length,
                    n_controls: document.querySelectorAll(
                        ctlSel.split(',').map(s => '.widget-subarea ' + s.trim()).join(',')).length,
                    n_interact: document.querySelectorAll('.widget-subarea .widget-interact').length,
                    n_state: document.querySelectorAll(
                        'script[type="application/vnd.jupyter.widget-state+json"]').length,
                };
            }""",
            [WIDGET_VIEW_SCRIPT, WIDGET_CONTROLS],
        )

    # -- layout, as read ---------------------------------------------------------------------------

    def layout(self) -> dict:
        """Layout problems of the page, by check (`LAYOUT_CHECKS`): desktop first, then phone.

        Leaves the page at the phone size (call it last in a visit).
        """
        page = self.page
        page.set_viewport_size(DESKTOP)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        out = page.evaluate(LAYOUT_DESKTOP_JS, {"min_scale": MIN_FIGURE_SCALE, "caption": CAPTION_LINE})
        page.set_viewport_size(PHONE)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        out.update(page.evaluate(LAYOUT_PHONE_JS))
        out["phone_sidebar"] = self._sidebar_problems()
        return out

    def _sidebar_problems(self) -> list[str]:
        """At phone size, the primary sidebar toggle opens the navigation (the theme's modal dialog)."""
        from playwright.sync_api import Error as PlaywrightError  # TimeoutError is one

        page = self.page
        toggle = page.locator("button.primary-toggle:visible").first
        if not toggle.count():
            return ["no visible primary sidebar toggle (button.primary-toggle)"]
        try:
            toggle.click(timeout=5_000)
            page.wait_for_function(SIDEBAR_OPEN_JS, timeout=5_000)
        except PlaywrightError as exc:   # a click that did not land, or no navigation within 5 s
            return [f"the primary sidebar toggle did not open a navigation with chapter links ({type(exc).__name__})"]
        finally:
            page.keyboard.press("Escape")
        return []


# What "in a scroll box" means: an element (or an ancestor, up to the article) with computed
# overflow-x auto|scroll, inside the column, which draws a scrollbar when its content is wider.
LAYOUT_DESKTOP_JS = r"""
({min_scale, caption}) => {
    const art = document.querySelector('article.bd-article') || document.querySelector('article');
    const out = {clipped: [], figure_scale: [], orphan_caption: [], run_in_title: [], stray_backtick: []};
    if (!art) return out;
    const cs = getComputedStyle(art), box = art.getBoundingClientRect();
    const left = box.left + parseFloat(cs.paddingLeft), right = box.right - parseFloat(cs.paddingRight);
    const column = right - left;
    const name = e => {
        const what = e.tagName === 'IMG' ? (e.getAttribute('src') || '').split('/').pop()
            : (e.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 60);
        return `<${e.tagName.toLowerCase()}> ${JSON.stringify(what)}`;
    };
    const scroller = e => {
        for (let a = e; a && a !== art; a = a.parentElement) {
            const o = getComputedStyle(a).overflowX;
            if (o === 'auto' || o === 'scroll') return a;
        }
        return null;
    };
    for (const e of art.querySelectorAll('mjx-container[display="true"], table, pre, img')) {
        const r = e.getBoundingClientRect();
        if (!r.width || !r.height) continue;                  // collapsed: a closed dropdown, a hidden cell
        const full = Math.max(r.width, e.scrollWidth);
        if (full <= column + 1 && r.right <= right + 1) continue;
        const s = scroller(e);
        const w = Math.round(full), c = Math.round(column);
        if (!s) { out.clipped.push(`${name(e)}: ${w} px in a ${c} px column, not in a scroll box`); continue; }
        const sr = s.getBoundingClientRect();
        if (sr.right > right + 1 || sr.left < left - 1)
            out.clipped.push(`${name(e)}: its scroll box is wider (${Math.round(sr.width)} px) than the ${c} px column`);
        else if (s.scrollWidth > s.clientWidth + 1 && s.offsetHeight - s.clientHeight <= 0)
            out.clipped.push(`${name(e)}: ${w} px in a ${c} px column, its scroll box draws no scrollbar`);
    }
    for (const img of art.querySelectorAll('img')) {
        const r = img.getBoundingClientRect();
        if (!r.width || !img.naturalWidth) continue;
        const scale = r.width / img.naturalWidth;
        if (scale < min_scale - 1e-3)
            out.figure_scale.push(`${name(img)}: ${img.naturalWidth} px wide, shown at ${Math.round(r.width)} px `
                                  + `(scale ${scale.toFixed(2)} < ${min_scale.toFixed(2)})`);
    }
    // a caption ("Figure: ...") right after something with no figure in it
    const re = new RegExp(caption);
    const skip = e => e && e.matches('script, style, span:empty, div:empty');
    for (const p of art.querySelectorAll('p')) {
        if (!re.test(p.textContent || '') || p.closest('.cell_output, figure, .admonition, li, td, th, dd')) continue;
        let prev = p.previousElementSibling;
        while (skip(prev)) prev = prev.previousElementSibling;
        const hasFigure = prev && (prev.matches('img, figure, svg, canvas') || prev.querySelector('img, figure, svg, canvas'));
        if (!hasFigure) out.orphan_caption.push(`caption with no figure before it: ${name(p)}`);
    }
    // "Paper vs numbers" boxes: the phrase is the box's title, not the start of its text
    for (const a of art.querySelectorAll('.admonition')) {
        const first = Array.from(a.children).find(c => !c.matches('.admonition-title'));
        if (first && /^\s*Paper vs numbers/.test(first.textContent || ''))
            out.run_in_title.push(`a box titled ${JSON.stringify((a.querySelector('.admonition-title') || {}).textContent || '')} `
                                  + `whose text starts with its real title: ${name(first)}`);
    }
    // a backtick left in the prose: inline code that the Markdown did not close (e.g. a `|` in a table)
    const prose = art.cloneNode(true);
    prose.querySelectorAll('script, style, pre, code, .highlight, mjx-container, .cell_input').forEach(e => e.remove());
    const walker = document.createTreeWalker(prose, NodeFilter.SHOW_TEXT);
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
        const i = t.textContent.indexOf('`');
        if (i >= 0) out.stray_backtick.push(`...${JSON.stringify(t.textContent.slice(Math.max(0, i - 50), i + 30))}...`);
    }
    return out;
}
"""

LAYOUT_PHONE_JS = r"""
() => {
    const vw = document.documentElement.clientWidth, sw = document.scrollingElement.scrollWidth;
    if (sw <= vw + 1) return {phone_scroll: []};
    const free = e => {   // not inside something that clips or scrolls (or a fixed, off-canvas panel)
        for (let a = e.parentElement; a && a !== document.documentElement; a = a.parentElement) {
            const cs = getComputedStyle(a);
            if (cs.overflowX !== 'visible' || cs.position === 'fixed') return false;
        }
        return getComputedStyle(e).position !== 'fixed';
    };
    const wide = Array.from(document.querySelectorAll('body *'))
        .filter(e => { const r = e.getBoundingClientRect(); return r.width && r.right > vw + 1 && free(e); })
        .filter((e, _, all) => !all.some(o => o !== e && e.contains(o)))   // the innermost ones
        .slice(0, 5)
        .map(e => `<${e.tagName.toLowerCase()} class="${e.className}"> ${JSON.stringify((e.textContent || '').trim().slice(0, 50))}`);
    return {phone_scroll: [`the page scrolls sideways: ${sw} px wide in a ${vw} px viewport; widest: ${wide.join('; ')}`]};
}
"""

SIDEBAR_OPEN_JS = r"""
() => {
    const nav = document.querySelector('dialog#pst-primary-sidebar-modal[open]') || document.querySelector('.bd-sidebar-primary');
    if (!nav) return false;
    const r = nav.getBoundingClientRect();
    const visible = r.width > 150 && r.right > 150 && r.left < window.innerWidth && getComputedStyle(nav).visibility !== 'hidden';
    const links = Array.from(nav.querySelectorAll('a[href]')).filter(a => {
        const b = a.getBoundingClientRect(); return b.width > 0 && b.right > 0 && b.left < window.innerWidth;
    });
    return visible && links.length >= 3;
}
"""


@functools.cache
def _page_ids(path: str) -> frozenset:
    """The ids (and legacy `name` anchors) of one built HTML file."""
    text = (SITE / path).read_text(encoding="utf8", errors="replace")
    return frozenset(re.findall(r"""\b(?:id|name)=["']([^"']+)["']""", text))


def broken_links(page_path: str, hrefs: list[str], base: str) -> list[str]:
    """The internal links of a page that point to a missing file or to a missing anchor.

    `hrefs` are absolute URLs as the browser resolved them (`base` is the site's root URL); links
    elsewhere (other hosts, mailto:, javascript:) are not checked here (the page test already
    fails on any request that leaves 127.0.0.1).
    """
    bad = []
    for href in sorted(set(hrefs)):
        if not href.startswith(base):
            continue
        parts = urllib.parse.urlsplit(href)
        rel = urllib.parse.unquote(parts.path[len(urllib.parse.urlsplit(base).path):])
        target = SITE / rel
        if rel == "" or rel.endswith("/") or target.is_dir():
            target = target / "index.html"
        try:
            target.resolve().relative_to(SITE)
        except ValueError:
            bad.append(f"{href} (outside the site)")
            continue
        if not target.is_file():
            bad.append(f"{href} (no such file)")
            continue
        frag = urllib.parse.unquote(parts.fragment)
        if frag and target.suffix == ".html" and frag not in _page_ids(target.relative_to(SITE).as_posix()):
            bad.append(f"{href} (no element with id {frag!r} in {target.relative_to(SITE).as_posix()})")
    return bad


# page -> its uncaptioned images, filled by test_page's visit (saves a second visit per page)
_UNCAPTIONED: dict[str, list[str]] = {}
# page -> its layout problems by check, filled by test_page's visit (judged by test_page_layout)
_LAYOUT: dict[str, dict[str, list[str]]] = {}


def _unexplained(errors: list[str]) -> list[str]:
    return [e for e in errors if not any(re.search(p, e) for p, _why in KNOWN_CONSOLE_NOISE)]


@pytest.fixture
def visit(browser_context, server):
    opened: list[PageVisit] = []

    def _visit(page_path: str) -> PageVisit:
        v = PageVisit(browser_context, server, page_path)
        opened.append(v)
        return v.open()

    yield _visit
    for v in opened:
        v.close()


# ---------------------------------------------------------------------------------------------
# tests

# Discovered at collection time (make test builds the site before running pytest). With no site,
# one placeholder keeps the test visible: it then skips (or fails under REDUNET_BOOK_REQUIRE_SITE).
PAGES = site_pages() or ["<no built site>"]

# TeX that MathJax should have consumed: \( \) \[ \] $$, \begin{..}, and $x$-style inline math.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|(?<![\w$])\$[^\s$][^$\n]{0,200}?(?<!\s)\$(?![\w$])")


@pytest.mark.parametrize("page_path", PAGES)
def test_page(page_path, site_dir, visit, server):
    if page_path == "<no built site>":
        pytest.fail(f"no pages found under {site_dir}", pytrace=False)
    if is_redirect_stub(page_path):
        target = re.search(r'url=([^"]+)"', (site_dir / page_path).read_text(encoding="utf8"))
        assert target, f"{page_path}: redirect without a target"
        dest = (site_dir / page_path).parent / target.group(1).strip()
        assert dest.is_file(), f"{page_path} redirects to a missing page {target.group(1)}"
        return

    v = visit(page_path)
    problems = []
    if v.external:
        problems.append(f"requests outside 127.0.0.1 (the site must work offline): {sorted(set(v.external))}")
    if v.failed:
        problems.append(f"failed local requests: {sorted(set(v.failed))}")
    if v.server_errors():
        problems.append(f"error answers of the local server: {sorted(set(v.server_errors()))}")
    errors = _unexplained(v.console_errors)
    if errors:
        problems.append(f"console errors: {errors}")

    text = v.visible_text()
    if "#|" in text:
        i = text.index("#|")
        problems.append(f"nbdev directive text '#|' visible: ...{text[max(0, i - 60): i + 60]!r}...")

    broken = [i["src"] for i in v.images() if not (i["complete"] and i["w"] > 0)]
    if broken:
        problems.append(f"images that did not load: {broken}")

    m = v.math_status()
    if m["n_math"]:
        if not m["mathjax_loaded"]:
            problems.append("page has math but MathJax did not load")
        elif m["n_untypeset"] or not m["n_mjx"]:
            problems.append(f"{m['n_untypeset']} of {m['n_math']} math elements not typeset by MathJax")
        if m["mathjax_errors"]:
            problems.append(f"{m['mathjax_errors']} MathJax errors (bad TeX) on the page")
    raw = RAW_TEX.search(v.prose_text())
    if raw:
        prose = v.prose_text()
        problems.append(
            f"raw TeX left in the text: ...{prose[max(0, raw.start() - 60): raw.end() + 60]!r}..."
        )

    t = v.title_status()
    if not t["title"].strip() or "<no title>" in t["title"]:
        problems.append(f"page without a title: <title>{t['title']!r}")
    if t["n_h1"] != 1 or not (t["h1"] and t["h1"][0]):
        problems.append(f"the article should have exactly one non-empty <h1>, it has {t['h1']}")

    links = broken_links(page_path, v.links(), server.base)
    if links:
        problems.append(f"broken internal links: {links}")

    _UNCAPTIONED[page_path] = v.uncaptioned_images()   # judged by test_figure_captions

    w = v.widget_status()
    if w["n_views"] and w["n_rendered"] < w["n_views"]:
        problems.append(
            f"only {w['n_rendered']} of {w['n_views']} widget views rendered"
            + (f" after {WIDGET_TIMEOUT_MS / 1000:.0f} s" if v.widget_timeout else "")
        )
    if w["n_views"] and not w["n_state"]:
        problems.append("widget views without saved widget state")

    _LAYOUT[page_path] = v.layout()   # last: it resizes the page (judged by test_page_layout)

    assert not problems, f"{page_path}:\n  - " + "\n  - ".join(problems)


@pytest.mark.parametrize("page_path", PAGES)
def test_page_layout(page_path, site_dir, visit):
    """The page as read at 1366x900 and on a phone (390x844): see LAYOUT_DESKTOP_JS / LAYOUT_PHONE_JS.

    Checks, by name: `clipped` (a display equation, table, code block or figure wider than the column
    and not in a scroll box that draws a scrollbar), `figure_scale` (a figure shown below
    MIN_FIGURE_SCALE of its size), `orphan_caption`, `run_in_title` (a *Paper vs numbers* box whose
    title is the first words of its text), `stray_backtick`, `phone_scroll` (the whole page scrolls
    sideways at 390 px), `phone_sidebar` (the primary sidebar toggle does not open the navigation).
    """
    if page_path == "<no built site>":
        pytest.fail(f"no pages found under {site_dir}", pytrace=False)
    if is_redirect_stub(page_path):
        return
    if page_path not in _LAYOUT:   # test_page did not run for it (e.g. `-k`)
        _LAYOUT[page_path] = visit(page_path).layout()
    found = {check: found for check, found in _LAYOUT[page_path].items() if found}
    known = LAYOUT_KNOWN.get(page_path, {})
    unknown = {check: found[check] for check in found if check not in known}
    for check in known:
        if check not in found:
            warnings.warn(f"{page_path}: LAYOUT_KNOWN lists {check!r} but the page passes it: remove the entry")
    assert not unknown, f"{page_path}:\n" + "\n".join(
        f"  {check}:\n    - " + "\n    - ".join(items) for check, items in unknown.items())
    if found:
        pytest.xfail("; ".join(f"{check}: {known[check]}" for check in found))


# Font sizes under MIN_FONT_PT in a notebook's code: `fontsize=8`, `labelsize=7`, `title_fontsize=7`,
# a legend `prop={"size": 7}`, the relative sizes below "medium" (10 pt by default), and rcParams font sizes.
_SMALL_NAMED = {"xx-small": 5.79, "x-small": 6.94, "small": 8.33}
FONT_SIZE_RE = re.compile(
    r"""(?:\b(?:fontsize|labelsize|title_fontsize)\s*=\s*|["'](?:size|fontsize)["']\s*:\s*|"""
    r"""["'](?:font\.size|[xy]tick\.labelsize|legend\.fontsize|axes\.(?:label|title)size)["']\s*[\],]\s*=?\s*)"""
    r"""(?:(\d+(?:\.\d+)?)|["'](xx-small|x-small|small)["'])""")
NOTEBOOKS = sorted([*ROOT.glob("nbs/*.ipynb"), *ROOT.glob("book/*.ipynb")])


def small_font_sizes(source: str) -> list[str]:
    """The font sizes under MIN_FONT_PT that a piece of code sets, as the matched text."""
    found = []
    for m in FONT_SIZE_RE.finditer(source):
        size = float(m.group(1)) if m.group(1) else _SMALL_NAMED[m.group(2)]
        if size < MIN_FONT_PT:
            found.append(m.group(0))
    return found


def test_small_font_sizes_found():
    """The scanner of test_figure_font_sizes finds what it should (and no kernel or marker size)."""
    assert small_font_sizes('ax.legend(fontsize=8); ax.set_title("x", fontsize=9)') == ["fontsize=8"]
    assert small_font_sizes('ax.tick_params(labelsize=7.5); ax.legend(prop={"size": 6})') == ["labelsize=7.5", '"size": 6']
    assert small_font_sizes('ax.legend(title_fontsize="x-small"); plt.rcParams["font.size"] = 8') == [
        'title_fontsize="x-small"', '"font.size"] = 8']
    assert small_font_sizes('Lifting1d(16, 6, motif_size=6, kernel_size=3); ax.plot(x, ms=3, markersize=2)') == []


def cell_source(cell) -> str:
    "A notebook cell's source as one string (nbformat allows a list of lines)."
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


@pytest.mark.parametrize(
    "notebook",
    [pytest.param(p, id=p.relative_to(ROOT).as_posix(),
                  marks=pytest.mark.xfail(reason=FONT_SIZE_KNOWN[p.relative_to(ROOT).as_posix()], strict=False))
     if p.relative_to(ROOT).as_posix() in FONT_SIZE_KNOWN else pytest.param(p, id=p.relative_to(ROOT).as_posix())
     for p in NOTEBOOKS],
)
def test_figure_font_sizes(notebook):
    """No figure text under MIN_FONT_PT: with MIN_FIGURE_SCALE, every figure's text is >= MIN_TEXT_PX px."""
    cells = json.loads(notebook.read_text(encoding="utf8"))["cells"]
    bad = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        src = cell_source(cell)
        bad += [f"cell {i}: {found}" for found in small_font_sizes(src)]
    assert not bad, f"{notebook.name}: font sizes under {MIN_FONT_PT} pt (text under {MIN_TEXT_PX} px on the page): {bad}"


# Private helpers are collapsed (issue 16): a code cell with a top-level private definition (`def _name`,
# `async def _name`, `class _Name`) is collapsed - the `hide-input` tag, which Jupyter Book shows behind a
# toggle, or a `#| code-fold` / `#| hide` directive (book_ext maps them to `hide-input` / `remove-cell`) -
# and defines no public top-level name (a cell that mixes the two is split, the code kept in order).
COLLAPSING_DIRECTIVE_RE = re.compile(r"^\s*#\s*\|\s*(?:hide|code-fold)(?:\s*:\s*(?:true|yes|1|on)?)?\s*$", re.M)


def top_level_definitions(source: str) -> list[str]:
    """The names of the functions and classes a code cell defines at top level (IPython `%`/`!` lines read as `pass`)."""
    return [node.name for node in ast.parse(python_source(source)).body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def python_source(source: str) -> str:
    "A cell's source with IPython `%`/`!` lines read as `pass`, so that `ast` can parse it."
    return "\n".join(re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in source.split("\n"))


def is_private_name(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@pytest.mark.parametrize("notebook", [pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in NOTEBOOKS])
def test_private_helpers_are_collapsed(notebook):
    """Every code cell defining a private helper is collapsed and defines no public name (issue 16)."""
    cells = json.loads(notebook.read_text(encoding="utf8"))["cells"]
    bad = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        src = cell_source(cell)
        names = top_level_definitions(src)
        private = [n for n in names if is_private_name(n)]
        if not private:
            continue
        where = f"cell {i} (id {cell.get('id')}) defining {', '.join(private)}"
        if not ("hide-input" in cell.get("metadata", {}).get("tags", []) or COLLAPSING_DIRECTIVE_RE.search(src)):
            bad.append(f"{where}: not collapsed (add the `hide-input` tag)")
        if public := [n for n in names if not is_private_name(n)]:
            bad.append(f"{where}: also defines the public {', '.join(public)} (split the cell)")
    assert not bad, f"{notebook.name}: private helpers not in collapsed, private-only cells:\n  " + "\n  ".join(bad)


# The literal code under the equation, the fast code one click away (issue 16, item 1). In the chapters
# that derive the maths, a cell defining a `literal_*` function (the equation stated in torch) is in view;
# every other exported cell - the package's fast, checked implementation - is collapsed: the `hide-input`
# tag, collapsed in JupyterLab too (`jupyter.source_hidden`), and, when it defines public names, a toggle
# that says "Implementation" (`mystnb.code_prompt_show`). The chapter's first literal definition comes
# before its first implementation cell.
MATH_CHAPTERS = ["01_coding_rate", "02_theorem_checks", "02a_compression_clustering", "02b_joint_dynamics", "03_gradient_operators",
                 "04_vector_redunet", "04a_nearest_subspace", "04b_compression_classifier", "05_circulant", "05a_lifting", "05b_scattering", "06_spectral_1d",
                 "07_spectral_2d", "08_vmcr2", "08a_crate", "08b_distributed", "10e_learned_features"]
EXPORT_RE = re.compile(r"^\s*#\s*\|\s*export\b", re.M)


def is_collapsed(cell) -> bool:
    """The cell's input is behind a toggle in the book and collapsed in JupyterLab."""
    md = cell.get("metadata", {})
    return "hide-input" in md.get("tags", []) and md.get("jupyter", {}).get("source_hidden") is True


@pytest.mark.parametrize("chapter", MATH_CHAPTERS)
def test_literal_code_in_view_implementation_collapsed(chapter):
    """Literal `literal_*` code in view, before the first collapsed "Implementation" cell; exported cells collapsed."""
    cells = json.loads((ROOT / "nbs" / f"{chapter}.ipynb").read_text(encoding="utf8"))["cells"]
    bad, first_literal, first_impl = [], None, None
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        src = cell_source(cell)
        names = top_level_definitions(src)
        literal = [n for n in names if n.startswith("literal_")]
        where = f"cell {i} (id {cell.get('id')})"
        if literal:
            if "hide-input" in cell.get("metadata", {}).get("tags", []):
                bad.append(f"{where} defines {', '.join(literal)}: the literal code is collapsed")
            first_literal = i if first_literal is None else first_literal
            continue
        if not EXPORT_RE.search(src):
            continue
        if not is_collapsed(cell):
            bad.append(f"{where}: an exported cell in view (tag `hide-input`, jupyter.source_hidden)")
        public = [n for n in names if not is_private_name(n)]
        if public:
            first_impl = i if first_impl is None else first_impl
            prompt = cell.get("metadata", {}).get("mystnb", {}).get("code_prompt_show", "")
            if not prompt.startswith("Implementation"):
                bad.append(f"{where} defines {', '.join(public)}: its toggle does not say 'Implementation' ({prompt!r})")
    if first_literal is None:
        bad.append("no literal code (a visible cell defining a `literal_*` function)")
    elif first_impl is not None and first_literal > first_impl:
        bad.append(f"the first literal code (cell {first_literal}) comes after the first implementation (cell {first_impl})")
    assert not bad, f"{chapter}:\n  " + "\n  ".join(bad)


# Drawing and table helpers one click away (issue 16, item 1): a notebook-only function whose body draws
# (`plt.`, `ax.`, `fig.`, `imshow`, `scatter`) or builds a Markdown table sits in a collapsed cell (its figure
# or table, the output, stays in view); and a cell collapsed in the book is collapsed in JupyterLab too.
DRAWS_RE = re.compile(r"\bplt\.|\bax\d*\.|\baxes\b|\bfig\.|Markdown\(|\.imshow\(|\.scatter\(")


def drawing_helpers(source: str) -> list[str]:
    "The notebook-only functions of a cell whose bodies draw or format a table (not the literal_* equations)."
    code = python_source(source)
    return [node.name for node in ast.parse(code).body
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("literal_")
            and DRAWS_RE.search(ast.get_source_segment(code, node) or "")]


@pytest.mark.parametrize("notebook", [pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in NOTEBOOKS])
def test_drawing_helpers_are_collapsed(notebook):
    "Drawing/table helpers in collapsed cells; every `hide-input` cell also collapsed in JupyterLab (`jupyter.source_hidden`)."
    cells = json.loads(notebook.read_text(encoding="utf8"))["cells"]
    bad = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        src, tags = cell_source(cell), cell.get("metadata", {}).get("tags", [])
        where = f"cell {i} (id {cell.get('id')})"
        if "hide-input" in tags and not is_collapsed(cell):
            bad.append(f"{where}: collapsed in the book but not in JupyterLab (jupyter.source_hidden)")
        if EXPORT_RE.search(src) or src.lstrip().startswith("#| hide") or {"remove-cell", "remove-input"} & set(tags):
            continue
        if (names := drawing_helpers(src)) and not is_collapsed(cell):
            bad.append(f"{where} defines the drawing/table helper(s) {', '.join(names)} in view")
    assert not bad, f"{notebook.name}:\n  " + "\n  ".join(bad)


# Engineering at the chapter's end (issue 16, item 2): sections on bad input, speed and cost, the support
# path, the Lipschitz bounds or the FFT method sit under the chapter's last "## Under the hood" section
# (before "The functions of this chapter" and the Summary), and its code cells are collapsed.
ENGINEERING_RE = re.compile(r"^#{2,3}\s.*\b(bad input|speed|cost|support path|lipschitz|fft method)", re.I | re.M)
UNDER_THE_HOOD = "## Under the hood"
CHAPTER_NOTEBOOKS = [p for p in NOTEBOOKS if p.parent.name == "nbs" and p.stem not in ("index",)]


@pytest.mark.parametrize("notebook", [pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in CHAPTER_NOTEBOOKS])
def test_engineering_under_the_hood(notebook):
    """Engineering headings sit under "## Under the hood", whose code cells are collapsed."""
    cells = json.loads(notebook.read_text(encoding="utf8"))["cells"]
    heads = [(i, line) for i, c in enumerate(cells) if c.get("cell_type") == "markdown"
             for line in cell_source(c).split("\n") if re.match(r"#{1,3}\s", line)]
    hood = [i for i, line in heads if line.strip() == UNDER_THE_HOOD]
    eng = [(i, line) for i, line in heads if ENGINEERING_RE.match(line)]
    bad = []
    if eng and not hood:
        bad.append(f"engineering sections but no '{UNDER_THE_HOOD}': {[line for _, line in eng]}")
    if hood:
        start = hood[-1]
        end = next((i for i, line in heads if i > start and re.match(r"##\s", line)), len(cells))
        bad += [f"cell {i}: {line!r} before '{UNDER_THE_HOOD}'" for i, line in eng if i < start]
        bad += [f"cell {i}: {line!r} after the section ends" for i, line in eng if i >= end]
        bad += [f"cell {i} (id {cells[i].get('id')}): code under the hood in view"
                for i in range(start, end) if cells[i].get("cell_type") == "code" and not is_collapsed(cells[i])]
    assert not bad, f"{notebook.name}:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize(
    "page_path",
    [pytest.param(p, marks=pytest.mark.xfail(reason=FIGURE_CAPTION_KNOWN[p], strict=False))
     if p in FIGURE_CAPTION_KNOWN else p for p in PAGES],
)
def test_figure_captions(page_path, site_dir, visit):
    """Every figure of the page is captioned (`FIGURE_CAPTION_RULE`)."""
    if page_path == "<no built site>":
        pytest.fail(f"no pages found under {site_dir}", pytrace=False)
    if is_redirect_stub(page_path):
        return
    if page_path not in _UNCAPTIONED:   # test_page did not run for it (e.g. `-k`)
        _UNCAPTIONED[page_path] = visit(page_path).uncaptioned_images()
    bad = _UNCAPTIONED[page_path]
    assert not bad, f"{page_path}: {len(bad)} figure(s) without a caption ({FIGURE_CAPTION_RULE}): {bad}"


# Every chapter opens, before its first section, with what the reader will learn (issue 16): the
# paragraph "**In this chapter** you will learn to:" and a list of 3-5 abilities right under it.
CHAPTERS = [p for p in PAGES if p.startswith("nbs/") and p != "nbs/index.html"] or ["<no built site>"]
OPENING_JS = """() => {
  const h1 = document.querySelector("article h1") || document.querySelector("h1");
  if (!h1) return {found: false, why: "no title"};
  const section = h1.closest("section") || h1.parentElement;
  for (const el of section.children) {
    if (el.tagName === "SECTION") break;                       // the first section: the opening is over
    if (el.tagName === "P" && el.textContent.trim().startsWith("In this chapter")) {
      const list = el.nextElementSibling;
      const items = list && list.tagName === "UL" ? list.querySelectorAll(":scope > li").length : 0;
      return {found: true, bold: !!el.querySelector("strong"), items: items};
    }
  }
  return {found: false, why: "no 'In this chapter' paragraph before the first section"};
}"""


@pytest.mark.parametrize("page_path", CHAPTERS)
def test_chapter_opens_with_what_you_will_learn(page_path, site_dir, visit):
    """A chapter opens with "In this chapter you will learn to:" (bold) and 3 to 5 items, before its first section."""
    if page_path == "<no built site>":
        pytest.fail(f"no pages found under {site_dir}", pytrace=False)
    got = visit(page_path).page.evaluate(OPENING_JS)
    assert got["found"], f"{page_path}: {got['why']}"
    assert got["bold"] and 3 <= got["items"] <= 5, f"{page_path}: the opening list has {got['items']} items (3 to 5 expected)"


def test_chapter_math_figure_widget(site_dir, visit):
    """The coding-rate chapter shows typeset math, a figure and a working interactive widget."""
    if not (site_dir / CHAPTER_PAGE).is_file():
        pytest.fail(f"{CHAPTER_PAGE} is not in the built site (is it in _toc.yml?)", pytrace=False)
    v = visit(CHAPTER_PAGE)

    m = v.math_status()
    assert m["mathjax_loaded"], "MathJax did not load"
    assert m["n_math"] > 0 and m["n_mjx"] > 0, f"no typeset math on the page: {m}"
    assert m["n_untypeset"] == 0, f"math left untypeset: {m}"
    assert not RAW_TEX.search(v.prose_text()), "raw TeX delimiters left on the page"

    figs = [i for i in v.images() if i["in_output"] and i["complete"] and i["w"] > 0]
    assert figs, f"no figure (loaded <img> in a cell output) on the page: {v.images()}"

    w = v.widget_status()
    assert w["n_state"] >= 1, "no saved widget state (was the notebook executed with widgets?)"
    assert w["n_views"] >= 1 and w["n_rendered"] == w["n_views"], f"widgets not rendered: {w}"
    assert w["n_controls"] >= 1, f"no widget control (slider, dropdown, ...) rendered: {w}"
    assert not v.external, f"requests outside 127.0.0.1: {v.external}"
    assert not _unexplained(v.console_errors), v.console_errors


def test_search_works_offline(site_dir, visit, server):
    """The search page loads Sphinx's index from the site and a query returns existing pages."""
    if not (site_dir / "search.html").is_file() or not (site_dir / "searchindex.js").is_file():
        pytest.fail("search.html or searchindex.js missing from the build", pytrace=False)
    query = urllib.parse.quote_plus(SEARCH_QUERY)
    v = visit(f"search.html?q={query}")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        v.page.wait_for_function(
            """() => {
                const r = document.querySelector('#search-results');
                return r && (r.querySelectorAll('ul.search li').length > 0
                             || /found|no documents|did not match/i.test(r.textContent));
            }""",
            timeout=SEARCH_TIMEOUT_MS,
        )
    except PlaywrightTimeout:
        pytest.fail(f"the search did not finish within {SEARCH_TIMEOUT_MS / 1000:.0f} s "
                    f"(console: {v.console_errors})", pytrace=False)
    results = v.page.evaluate(
        "() => Array.from(document.querySelectorAll('#search-results ul.search li a')).map(a => a.href)"
    )
    summary = v.page.evaluate("() => (document.querySelector('#search-results') || {}).textContent")
    assert len(set(results)) >= SEARCH_MIN_RESULTS, (
        f"searching {SEARCH_QUERY!r} found {len(set(results))} pages: {summary!r}"
    )
    assert not v.external, f"requests outside 127.0.0.1: {v.external}"
    assert not v.failed and not v.server_errors(), (v.failed, v.server_errors())
    assert not _unexplained(v.console_errors), v.console_errors
    bad = broken_links("search.html", results, server.base)
    assert not bad, f"search results that link nowhere: {bad}"
