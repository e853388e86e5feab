"""The book as it is published on the web: under a sub-path, with launch links, and its Binder set-up.

The site is published by `.github/workflows/pages.yml` at `BOOK_URL`, a GitHub Pages *project* site
that lives under the sub-path `/redunet-book/`. Checks:

- `test_site_under_subpath`: `_build/html` served under `PREFIX` only (everything else, the root
  `/` included, is a 404), every HTML page reachable from `PREFIX/index.html` crawled, and every
  same-origin link and resource (`href`/`src` of a, link, script, img; the root page's meta
  refresh) answers 200: no link escapes the prefix (a root-absolute `/_static/x.js` would 404);
- `test_browser_under_subpath`: two pages opened in headless Chromium under the prefix: no request
  fails, none leaves the prefix or 127.0.0.1, and MathJax typeset the math;
- `test_launch_links`: every notebook page links to Colab and Binder for *its own* notebook, and
  `test_launch_menu_is_links_only`: opening the launch menu in Chromium loads nothing from outside;
- `test_titles_and_canonical_links`: no page title reads "X — X"; every page's canonical URL is
  `BOOK_URL` + its path (`html.baseurl` in `_config.yml`);
- the configuration agrees with itself: `_config.yml` (repository, baseurl, launch buttons) vs
  `pyproject.toml` URLs; `binder/` (CPU torch pinned as in constraints.txt, the notebooks extra,
  an executable postBuild that provisions MNIST with `python -m redunet_book.fetch`); the Pages
  workflow (`make book` with the CPU torch index, `_build/html` uploaded and deployed).

Skips follow tests/test_site.py: no built site (`_build/html`, or the folder in
`REDUNET_BOOK_SITE`) skips the site tests unless `REDUNET_BOOK_REQUIRE_SITE=1` (set by `make test`),
which makes it a failure; no Chromium (`REDUNET_BOOK_CHROMIUM`, `/usr/bin/chromium`, `chromium` on
PATH) or no Playwright skips the browser tests.
"""

from __future__ import annotations

import http.server
import json
import re
import stat
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
import tomllib
import yaml
from browser_support import CHROMIUM_ARGS, SITE, LocalServer, built_site, chromium_or_skip

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]

# Where the book is published, and the repository the launch links open.
BOOK_URL = "https://redunet-book.github.io/redunet-book/"
PREFIX = urllib.parse.urlsplit(BOOK_URL).path          # "/redunet-book/"
REPO = "redunet-book/redunet-book"                      # GitHub owner/name
BRANCH = "main"
COLAB = "https://colab.research.google.com"
BINDER = "https://mybinder.org"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# Pages opened in Chromium under the prefix (both have math; the first also has widgets).
BROWSER_PAGES = ("nbs/01_coding_rate.html", "book/notation.html")
LAUNCH_PAGE = "nbs/01_coding_rate.html"

# Folders / pages of the build that are not book pages (as in test_site.py).
EXCLUDED_DIRS = {"_static", "_sources", "_images", "_downloads", "jupyter_execute", ".doctrees"}
EXCLUDED_PAGES = {"genindex.html", "search.html"}

NAV_TIMEOUT_MS = 60_000
MATH_TIMEOUT_MS = 30_000




def book_pages() -> list[str]:
    """Book pages of the build, relative to the site folder (posix); the root redirect stub excluded."""
    pages = []
    for p in sorted(SITE.rglob("*.html")):
        rel = p.relative_to(SITE)
        if rel.parts[0] in EXCLUDED_DIRS or rel.as_posix() in EXCLUDED_PAGES or rel.as_posix() == "index.html":
            continue
        pages.append(rel.as_posix())
    return pages


def notebook_pages() -> list[str]:
    """The pages built from a notebook of the repository (nbs/*.ipynb, book/*.ipynb): they get launch links."""
    return [p for p in book_pages() if (ROOT / p).with_suffix(".ipynb").is_file()]


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))


# ---------------------------------------------------------------------------------------------
# HTML parsing


class _Links(HTMLParser):
    """href/src of a, link, script, img; the target of a meta refresh; the canonical link; the title."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.anchors: list[dict] = []   # every <a href> with its attributes
        self.canonical: str | None = None
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag in ("a", "link") and a.get("href"):
            if tag == "link" and a.get("rel", "").lower() == "canonical":
                self.canonical = a["href"]
            self.urls.append(a["href"])
            if tag == "a":
                self.anchors.append(a)
        elif tag in ("script", "img") and a.get("src"):
            self.urls.append(a["src"])
        elif tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            m = re.search(r"url\s*=\s*(\S+)", a.get("content", ""), re.IGNORECASE)
            if m:
                self.urls.append(m.group(1).strip("'\""))
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def parse_html(text: str) -> _Links:
    p = _Links()
    p.feed(text)
    p.close()
    return p


# ---------------------------------------------------------------------------------------------
# the site under its sub-path


class PrefixServer(LocalServer):
    """`site` served at http://127.0.0.1:<free port>`PREFIX`; any other path is a 404.

    `requests` records (path, status) of every request, `escaped` the paths outside the prefix.
    """

    def __init__(self, site: Path, prefix: str = PREFIX):
        self.requests: list[tuple[str, int]] = []
        self.escaped: list[str] = []
        requests, escaped = self.requests, self.escaped
        bare = prefix.rstrip("/")

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(site), **kwargs)

            def _under_prefix(self) -> bool:
                path = urllib.parse.urlsplit(self.path).path
                if path == bare or path.startswith(prefix):
                    return True
                escaped.append(self.path)
                self.send_error(404, "outside the site's prefix")
                return False

            def do_GET(self):
                if self._under_prefix():
                    super().do_GET()

            def do_HEAD(self):
                if self._under_prefix():
                    super().do_HEAD()

            def translate_path(self, path):
                # /redunet-book/x/y.html -> <site>/x/y.html; the directory redirect of
                # SimpleHTTPRequestHandler (/redunet-book -> /redunet-book/) uses the full path
                p = urllib.parse.urlsplit(path).path
                return super().translate_path(p[len(bare):] or "/")

            def log_request(self, code="-", size="-"):
                try:
                    requests.append((self.path, int(code)))
                except (TypeError, ValueError):
                    pass

            def log_message(self, format, *args):  # keep the test output quiet
                pass

        super().__init__(Handler)
        self.base = self.origin + prefix


@pytest.fixture(scope="module")
def site_dir() -> Path:
    return built_site()


@pytest.fixture(scope="module")
def prefix_server(site_dir):
    with PrefixServer(site_dir) as srv:
        yield srv


def _fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read() if method == "GET" else b""
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), b""


def test_subpath_server_isolates_the_prefix(prefix_server):
    """The test server itself: the site exists only under the prefix (as on GitHub Pages)."""
    assert _fetch(prefix_server.base + "index.html")[0] == 200
    assert _fetch(prefix_server.origin + "/index.html")[0] == 404
    assert _fetch(prefix_server.origin + "/_static/pygments.css")[0] == 404
    assert _fetch(prefix_server.origin + PREFIX.rstrip("/"))[0] == 200   # redirected to PREFIX


def test_site_under_subpath(prefix_server):
    """Every same-origin link and resource of every reachable page answers 200 under the prefix."""
    origin = prefix_server.origin
    start = prefix_server.base + "index.html"
    escaped0 = len(prefix_server.escaped)   # the server is shared: count only this crawl's requests
    queue, seen_pages = [start], set()
    checked: dict[str, int] = {}          # url (no fragment) -> status
    referrers: dict[str, str] = {}        # url -> first page that links to it
    outside: list[str] = []               # same-origin links that leave the prefix
    while queue:
        page = queue.pop()
        if page in seen_pages:
            continue
        seen_pages.add(page)
        status, ctype, body = _fetch(page)
        checked[page] = status
        if status != 200 or "html" not in ctype:
            continue
        for raw in parse_html(body.decode("utf8", errors="replace")).urls:
            url = urllib.parse.urldefrag(urllib.parse.urljoin(page, raw.strip())).url
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or f"{parts.scheme}://{parts.netloc}" != origin:
                continue                  # other hosts, mailto:, javascript:, data:
            referrers.setdefault(url, page)
            if not parts.path.startswith(PREFIX):
                outside.append(f"{raw} (on {page[len(origin):]})")
                continue
            if parts.path.endswith((".html", "/")):
                queue.append(url)
            elif url not in checked:
                checked[url] = _fetch(url, "HEAD")[0]
    bad = sorted(f"{u[len(origin):]}: HTTP {s} (linked from {referrers.get(u, '?')[len(origin):]})"
                 for u, s in checked.items() if s != 200)
    n_pages = sum(1 for p in seen_pages if checked.get(p) == 200)
    assert n_pages >= 5, f"only {n_pages} pages reachable from {start}: {sorted(seen_pages)}"
    assert not outside, f"links that leave {PREFIX} (root-absolute?): {sorted(set(outside))}"
    assert not bad, f"{len(bad)} of {len(checked)} same-origin URLs fail under {PREFIX}:\n  " + "\n  ".join(bad)
    escaped = prefix_server.escaped[escaped0:]
    assert not escaped, f"requests outside {PREFIX}: {escaped}"


# ---------------------------------------------------------------------------------------------
# the browser


@pytest.fixture(scope="module")
def chromium_path() -> str:
    return chromium_or_skip()


@pytest.fixture(scope="module")
def browser(chromium_path, site_dir, playwright):
    b = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()


class Visit:
    """One page opened under the prefix, with every request it made."""

    def __init__(self, browser, server: PrefixServer, page_path: str):
        self.server = server
        self.context = browser.new_context(service_workers="block", viewport={"width": 1366, "height": 900})
        self.context.set_default_timeout(NAV_TIMEOUT_MS)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.external: list[str] = []
        self.failed: list[str] = []

        def route(r):
            if urllib.parse.urlsplit(r.request.url).hostname == "127.0.0.1":
                r.continue_()
            else:
                self.external.append(r.request.url)
                r.abort("blockedbyclient")

        def on_response(resp):
            if resp.status >= 400:
                self.failed.append(f"{resp.url}: HTTP {resp.status}")

        self.page.route("**/*", route)
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.on("requestfailed", lambda req: self.failed.append(f"{req.url}: {req.failure}"))
        self.page.on("response", on_response)
        self.page.goto(server.base + page_path, wait_until="load")
        self.page.evaluate(
            """async () => {
                if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)
                    await window.MathJax.startup.promise;
            }"""
        )

    def settle(self):
        self.page.wait_for_load_state("networkidle")

    def outside_prefix(self) -> list[str]:
        """Requests to this server that left the prefix, and requests to any other origin."""
        own = [u for u in self.requests if urllib.parse.urlsplit(u).hostname == "127.0.0.1"
               and not urllib.parse.urlsplit(u).path.startswith(PREFIX)]
        return own + self.external

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, prefix_server):
    opened: list[Visit] = []

    def _visit(page_path: str) -> Visit:
        v = Visit(browser, prefix_server, page_path)
        opened.append(v)
        return v

    yield _visit
    for v in opened:
        v.close()


@pytest.mark.browser
@pytest.mark.parametrize("page_path", BROWSER_PAGES)
def test_browser_under_subpath(page_path, site_dir, visit):
    """The page works under the prefix in Chromium: nothing fails or escapes, the math is typeset."""
    if not (site_dir / page_path).is_file():
        pytest.fail(f"{page_path} is not in the built site", pytrace=False)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    v = visit(page_path)
    try:
        v.page.wait_for_selector("mjx-container", state="attached", timeout=MATH_TIMEOUT_MS)
        v.settle()
    except PlaywrightTimeout:
        pass   # reported below, after what failed (the likelier cause)
    assert not v.failed, f"failed requests under {PREFIX}: {sorted(set(v.failed))}"
    assert not v.outside_prefix(), f"requests outside {PREFIX} or 127.0.0.1: {sorted(set(v.outside_prefix()))}"
    n_math, n_mjx = v.page.evaluate(
        "() => [document.querySelectorAll('article .math').length, document.querySelectorAll('mjx-container').length]"
    )
    assert n_mjx > 0 and n_mjx >= n_math, f"MathJax typeset {n_mjx} of {n_math} math elements"


@pytest.mark.browser
def test_launch_menu_is_links_only(site_dir, visit):
    """The launch menu opens, shows Colab and Binder, and nothing is loaded from those hosts."""
    if not (site_dir / LAUNCH_PAGE).is_file():
        pytest.fail(f"{LAUNCH_PAGE} is not in the built site", pytrace=False)
    v = visit(LAUNCH_PAGE)
    v.settle()
    toggle = v.page.locator(".dropdown-launch-buttons .dropdown-toggle")
    assert toggle.count() == 1, "no launch (rocket) button in the article header"
    toggle.hover()
    menu = v.page.locator(".dropdown-launch-buttons .dropdown-menu")
    if not menu.is_visible():
        toggle.click()
    menu.wait_for(state="visible", timeout=10_000)
    items = menu.locator("a.dropdown-item")
    labels = sorted(t.strip() for t in items.all_inner_texts())
    assert labels == ["Binder", "Colab"], f"launch menu entries: {labels}"
    icons = v.page.evaluate(
        """() => Array.from(document.querySelectorAll('.dropdown-launch-buttons img'))
                  .map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0}))"""
    )
    assert icons and all(i["ok"] for i in icons), f"launch icons did not load from the site: {icons}"
    v.settle()
    assert not v.failed, f"failed requests: {sorted(set(v.failed))}"
    assert not v.outside_prefix(), (
        f"the page requested something outside {PREFIX} on 127.0.0.1 (launch links must be links only): "
        f"{sorted(set(v.outside_prefix()))}"
    )
    assert not v.page.evaluate("() => !!(window.thebe || window.thebelab || document.querySelector('script[src*=thebe]'))"), (
        "thebe is on the page: it loads code from the network"
    )


# ---------------------------------------------------------------------------------------------
# launch links, titles, canonical links (static, from the built HTML)


def _page(site: Path, page: str) -> _Links:
    return parse_html((site / page).read_text(encoding="utf8", errors="replace"))


def test_launch_links(site_dir):
    """Every notebook page links to Colab and Binder for its own notebook, in this repository."""
    pages = notebook_pages()
    assert any(p.startswith("nbs/") for p in pages), f"no notebook pages found under {site_dir}/nbs"
    problems = []
    for page in pages:
        nb = Path(page).with_suffix(".ipynb").as_posix()
        hrefs = [a["href"] for a in _page(site_dir, page).anchors]
        colab = f"{COLAB}/github/{REPO}/blob/{BRANCH}/{nb}"
        if colab not in hrefs:
            found = [h for h in hrefs if "colab" in h]
            problems.append(f"{page}: no Colab link {colab} (found {found})")
        binder = [h for h in hrefs if urllib.parse.urlsplit(h).hostname == urllib.parse.urlsplit(BINDER).hostname]
        ok = False
        for h in binder:
            u = urllib.parse.urlsplit(h)
            q = urllib.parse.parse_qs(u.query)
            if u.scheme == "https" and u.path == f"/v2/gh/{REPO}/{BRANCH}" and q.get("urlpath") == [f"lab/tree/{nb}"]:
                ok = True
        if not ok:
            problems.append(f"{page}: no Binder link to {BINDER}/v2/gh/{REPO}/{BRANCH}?urlpath=lab/tree/{nb} (found {binder})")
    assert not problems, f"{len(problems)} of {len(pages)} notebook pages:\n  " + "\n  ".join(problems)


def test_titles_and_canonical_links(site_dir):
    """No "X — X" page title (the landing page once read "redunet-book — redunet-book"), and each
    page's canonical URL is the published address of that page (`html.baseurl`)."""
    problems = []
    for page in book_pages():
        p = _page(site_dir, page)
        parts = [s.strip() for s in p.title.split("\u2014")]
        if not p.title.strip() or (len(parts) == 2 and parts[0] == parts[1]):
            problems.append(f"{page}: title {p.title!r}")
        if p.canonical != BOOK_URL + page:
            problems.append(f"{page}: canonical link {p.canonical!r}, expected {BOOK_URL + page!r}")
    assert not problems, "\n  ".join(["pages:"] + problems)


# ---------------------------------------------------------------------------------------------
# configuration (no build needed)


def test_config_matches_the_published_site():
    """_config.yml: repository, baseurl and launch buttons agree with pyproject.toml and this file."""
    cfg = _config()
    toml = tomllib or pytest.importorskip("tomli")
    urls = toml.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]["urls"]
    assert cfg["repository"]["url"].rstrip("/") == urls["Repository"].rstrip("/") == f"https://github.com/{REPO}"
    assert cfg["repository"].get("path_to_book", "") == ""
    assert cfg["repository"]["branch"] == BRANCH
    assert cfg["html"]["baseurl"] == urls["Book"] == BOOK_URL, "html.baseurl must be the published address (with a trailing slash)"
    lb = cfg["launch_buttons"]
    assert lb["colab_url"].rstrip("/") == COLAB and lb["binderhub_url"].rstrip("/") == BINDER
    assert lb["notebook_interface"] == "jupyterlab"
    assert not lb.get("thebe"), "thebe loads code from the network on every page: keep it off"
    # the book's title follows every page's own title in the browser tab ("<page> — <book>"): it
    # must differ from the landing page's own title (the first heading of the toc's root notebook)
    root = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))["root"]
    nb = json.loads((ROOT / root).with_suffix(".ipynb").read_text(encoding="utf8"))
    heading = next((ln[2:].strip() for c in nb["cells"] if c["cell_type"] == "markdown"
                    for ln in "".join(c["source"]).splitlines() if ln.startswith("# ")), None)
    assert heading and cfg["title"].strip() != heading, (
        f"_config.yml title {cfg['title']!r} equals the landing page's title: tabs would read '{heading} — {heading}'"
    )


def _torch_pin(text: str) -> str | None:
    m = re.search(r"^\s*torch\s*==\s*([^\s;#]+)", text, re.MULTILINE)
    return m.group(1) if m else None


def test_binder_requirements():
    """binder/requirements.txt: CPU torch pinned as in constraints.txt, the package with its notebooks extra."""
    req = (ROOT / "binder" / "requirements.txt").read_text(encoding="utf8")
    lines = [ln.split("#", 1)[0].strip() for ln in req.splitlines()]
    lines = [ln for ln in lines if ln]
    pin = _torch_pin((ROOT / "constraints.txt").read_text(encoding="utf8"))
    assert pin, "constraints.txt pins no torch version"
    assert _torch_pin(req) == pin, f"binder/requirements.txt must pin torch=={pin} (constraints.txt)"
    assert any(re.fullmatch(rf"--(extra-)?index-url[ =]{re.escape(TORCH_CPU_INDEX)}/?", ln) for ln in lines), (
        f"binder/requirements.txt must take torch from the CPU index ({TORCH_CPU_INDEX}), or Binder pulls CUDA"
    )
    assert any(re.fullmatch(r"(-e\s+)?\.\[(\w+,)*notebooks(,\w+)*\]", ln) for ln in lines), (
        "binder/requirements.txt must install the package with its notebooks extra (`.[notebooks]`)"
    )
    for ln in lines:   # -c / -r paths are relative to the requirements file
        m = re.fullmatch(r"-[cr]\s+(\S+)", ln)
        if m:
            assert (ROOT / "binder" / m.group(1)).resolve().is_file(), f"{ln}: no such file (relative to binder/)"
    runtime = ROOT / "binder" / "runtime.txt"
    if runtime.is_file():
        assert re.fullmatch(r"python-3\.\d+", runtime.read_text(encoding="utf8").strip())


def test_binder_postbuild():
    """binder/postBuild: an executable bash script that provisions MNIST with the package's fetcher."""
    post = ROOT / "binder" / "postBuild"
    assert post.is_file(), "binder/postBuild is missing"
    assert post.stat().st_mode & stat.S_IXUSR, "binder/postBuild must be executable (chmod +x; git keeps the bit)"
    text = post.read_text(encoding="utf8")
    assert text.startswith(("#!/bin/bash", "#!/usr/bin/env bash")), "postBuild needs a bash shebang"
    m = re.search(r"python3?\s+-m\s+redunet_book\.fetch((?:\s+--[\w-]+(?:[ =]\S+)?)*)", text)
    assert m, "postBuild must run `python -m redunet_book.fetch`"
    fetch = pytest.importorskip("redunet_book.fetch")
    fetch.build_parser().parse_args(m.group(1).split())   # the options it passes exist (SystemExit if not)


def test_pages_workflow():
    """.github/workflows/pages.yml builds with the README's command, CPU torch, and deploys _build/html."""
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf8"))
    on = wf.get("on", wf.get(True))          # YAML 1.1 reads a bare `on` key as True
    assert on["push"]["branches"] == ["main"] and "workflow_dispatch" in on
    assert wf["concurrency"]["group"]
    steps = wf["jobs"]["build"]["steps"]
    uses = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    runs = " ".join(s.get("run", "") for s in steps)
    assert "make book" in runs, "the workflow must build with the README's book command"
    assert f"--index-url {TORCH_CPU_INDEX}" in runs, "the runner must install the CPU torch (TORCH_INSTALL_ARGS)"
    assert uses["actions/setup-python"]["with"]["python-version"] == "3.11"
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    cached = {s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/cache@")}
    assert {"~/.cache/pip", "~/.cache/redunet_book"} <= cached, cached
    deploy = wf["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])


# --- The hidden first cell of every chapter: Colab / Binder install ---------------------------------

# Chapters that read MNIST (they also provision it in their first cell, where the package was missing).
MNIST_CHAPTERS = {"04b_compression_classifier", "05b_scattering", "08_vmcr2", "10_experiments", "10b_invariance", "10c_finetune", "10d_featurizers", "10e_learned_features", "10f_crate_mnist",
                  "11_reproduce", "12_report"}
# 00_fetch and 00a_data read MNIST only in demos with a documented fallback (fake files, scikit-learn digits).
READS_MNIST = re.compile(r"\b(load_mnist|mnist_sets|mnist_vectors|mnist_tensors|compare_on_mnist|invariance_data|"
                         r"table2_data|run_table18|run_table2|run_rotation|run_translation|run_equivariance|"
                         r"run_invariance|run_vmcr2_mnist|run_experiment)\(|\bmain\(\[")


def _chapters() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [ROOT / f"{f}.ipynb" for f in files if f.startswith("nbs/") and (ROOT / f"{f}.ipynb").exists()]


def _run_install_cell(source: str, package_missing: bool) -> dict:
    "Run a first cell as IPython would (magics transformed), with pip and the MNIST fetch recorded instead of done."
    import importlib.util

    from IPython.core.inputtransformer2 import TransformerManager

    from redunet_book import fetch

    calls = {"magics": [], "ensure_mnist": 0}

    class FakeIPython:
        def run_line_magic(self, name, line, *a):
            calls["magics"].append(f"%{name} {line}")

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *a, **k):
        return None if package_missing and name == "redunet_book" else real_find_spec(name, *a, **k)

    def ensure_mnist(*a, **k):
        calls["ensure_mnist"] += 1

    code = TransformerManager().transform_cell(source)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(importlib.util, "find_spec", find_spec)
        mp.setattr(fetch, "ensure_mnist", ensure_mnist)
        exec(compile(code, "<install cell>", "exec"), {"get_ipython": FakeIPython})  # noqa: S102  the cell under test
    return calls


def test_every_chapter_starts_with_the_install_cell():
    "Opened on Colab (no package), a chapter's first, hidden cell installs it; in the book's environment it does nothing."
    repo = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]["urls"]["Repository"]
    pip = f'pip install --quiet "redunet-book[notebooks] @ git+{repo}"'
    chapters = _chapters()
    assert len(chapters) >= 20
    for path in chapters:
        nb = json.loads(path.read_text(encoding="utf8"))
        first = nb["cells"][0]
        source = "".join(first["source"])
        assert first["cell_type"] == "code" and source.startswith("#| hide\n"), f"{path.name}: no hidden install cell first"
        assert _run_install_cell(source, package_missing=False) == {"magics": [], "ensure_mnist": 0}, path.name
        calls = _run_install_cell(source, package_missing=True)
        assert calls["magics"] == [f"%{pip}"], (path.name, calls)
        assert (calls["ensure_mnist"] > 0) == (path.stem in MNIST_CHAPTERS), (path.name, calls)   # 10e: Fashion-MNIST too
        cells = ("".join(c["source"]) for c in nb["cells"][1:] if c["cell_type"] == "code")
        rest = "\n".join(c for c in cells if not c.startswith(("#| export", "#|export")))     # what the chapter runs
        if path.stem not in ("00_fetch", "00a_data"):
            assert bool(READS_MNIST.search(rest)) == (path.stem in MNIST_CHAPTERS), f"{path.name}: MNIST_CHAPTERS is stale"
