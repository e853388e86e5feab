"""The reader's route: a chapter run in JupyterLab, in a real browser, fully offline.

`test_chapter_runs_in_jupyterlab` starts its own JupyterLab server (127.0.0.1, a free port, a random
token, every Jupyter/IPython folder under the test's tmp folder, nothing fetched from the network),
opens `LAB_CHAPTER` in Debian's Chromium through Playwright (never `playwright install`), runs every
cell from the menu (Run > Run All Cells), and checks that

- every code cell ran (an execution count each) and no cell raised (no error output, no traceback
  text shown), read both from the page and from the notebook file JupyterLab saves;
- the chapter's interactive figure (`redunet_book.viz.figure_controls`: a box of sliders and one
  PNG redrawn in place by display id) is live: moving a slider with the keyboard changes the
  slider's readout and replaces the PNG by a different one;
- no request left 127.0.0.1.

The chapter runs from a copy: a tmp folder mirrors the repository (symlinks to its top-level
entries, so relative paths such as `../results/...` resolve) with a real `nbs/` holding a copy of
the chapter and symlinks to its siblings, so JupyterLab's autosave and checkpoints never touch the
tree. The kernel is shut down and the server stopped (by its process id; its process group is
cleaned up after it) whatever happens.

`test_notebook_imports_are_declared` reads every notebook of `nbs/` and checks that each module it
imports is the standard library, `redunet_book`, or comes from a distribution that pyproject.toml's
`dependencies` or `notebooks` extra declares: a chapter importing an undeclared module fails there.

Skips (visible in `pytest -ra`, as for tests/test_site.py): no Chromium (`/usr/bin/chromium`,
`chromium` on PATH, or the path in `REDUNET_BOOK_CHROMIUM`) or no Playwright.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from browser_support import CHROMIUM_ARGS, find_chromium

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"

# The chapter run in JupyterLab: quick to run in full (about 10 s) and has a figure_controls widget.
LAB_CHAPTER = "01_coding_rate.ipynb"
SLIDER_KEY_PRESSES = 3               # ArrowRight presses on the first slider of the widget

SERVER_START_TIMEOUT_S = 90
KERNEL_READY_TIMEOUT_S = 90
RUN_ALL_TIMEOUT_S = 150
REDRAW_TIMEOUT_S = 60
UI_TIMEOUT_MS = 60_000

# JupyterLab front-end plugins switched off: the "get notified about official Jupyter news?" toast
# (it fetches from jupyter.org and its toast covers part of the notebook).
DISABLED_LAB_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)


def _skip_or_fail(msg: str):
    "A missing browser is a visible skip, as in tests/test_site.py (REDUNET_BOOK_REQUIRE_SITE is about the built site)."
    pytest.skip(msg)



# ---------------------------------------------------------------------------------------------
# the JupyterLab server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mirror_tree(dest: Path, chapter: str) -> Path:
    """`dest` mirrors the repository for running `chapter`; returns the copy of the chapter."""
    dest.mkdir()
    for entry in ROOT.iterdir():
        if entry.name != "nbs" and not entry.name.startswith("."):
            (dest / entry.name).symlink_to(entry)
    (dest / "nbs").mkdir()
    for entry in NBS.iterdir():
        if entry.name != chapter and not entry.name.startswith("."):
            (dest / "nbs" / entry.name).symlink_to(entry)
    copy = dest / "nbs" / chapter
    shutil.copyfile(NBS / chapter, copy)
    return copy


class LabServer:
    """`python -m jupyterlab` serving `root_dir` on 127.0.0.1:<free port>, everything under `home`."""

    def __init__(self, root_dir: Path, home: Path):
        self.root_dir, self.home = root_dir, home
        self.port = _free_port()
        self.token = secrets.token_hex(24)
        self.base = f"http://127.0.0.1:{self.port}/"
        self.log_path = home / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    def _env(self) -> dict[str, str]:
        dirs = {name: self.home / folder for name, folder in [
            ("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_DATA_DIR", "jupyter-data"),
            ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython")]}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
        labconfig.mkdir(exist_ok=True)
        (labconfig / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {p: True for p in DISABLED_LAB_PLUGINS}}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "JPY_"))}
        env.update({k: str(v) for k, v in dirs.items()})
        env.update(JUPYTER_PLATFORM_DIRS="1", PYDEVD_DISABLE_FILE_VALIDATION="1", PYTHONUNBUFFERED="1")
        return env

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.allow_root=True",             # containers and CI machines often run as root
            "--ServerApp.terminals_enabled=False",
            # nothing from the network: no news feed, no update check, no PyPI extension manager
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]

    def api(self, method: str, path: str, timeout: float = 10):
        req = urllib.request.Request(self.base + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def start(self):
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.home, env=self._env(),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)   # its own process group: kernels too
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "api/status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer in {SERVER_START_TIMEOUT_S} s:\n"
                                       f"{self.log_tail()}") from None
                time.sleep(0.3)

    def shutdown_kernels(self):
        "Shut down every session's kernel through the REST API (errors ignored: best effort)."
        try:
            for session in self.api("GET", "api/sessions"):
                self.api("DELETE", f"api/sessions/{session['id']}", timeout=30)
            for kernel in self.api("GET", "api/kernels"):
                self.api("DELETE", f"api/kernels/{kernel['id']}", timeout=30)
        except (OSError, urllib.error.URLError, ValueError):
            pass

    def stop(self):
        "Stop the server by its process id (terminate, then kill), then anything left in its group."
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.shutdown_kernels()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        try:   # a kernel that outlived the server: same process group, whose id is the server's pid
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def playwright_api():
    if find_chromium() is None:
        where = os.environ.get("REDUNET_BOOK_CHROMIUM", "/usr/bin/chromium or chromium on PATH")
        _skip_or_fail(f"Chromium not found ({where}); install it with `make chromium` "
                      "(Debian: apt-get install -y chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        _skip_or_fail("playwright (python package) is not installed")
    return sync_api


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on a mirror of the tree; yields (server, path of the chapter's copy)."
    chapter = _mirror_tree(tmp_path / "tree", LAB_CHAPTER)
    home = tmp_path / "home"
    home.mkdir()
    server = LabServer(chapter.parent, home)
    try:
        server.start()
        yield server, chapter
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# page helpers (JupyterLab 4 DOM)

CODE_PROMPTS_JS = "() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'), e => e.textContent.trim())"
ERROR_TEXTS_JS = """() => Array.from(document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'), e => e.textContent)"""


# stderr text that is an exception shown by IPython (a warning is not): a traceback, or a line
# starting with an exception name (a SyntaxError is shown without "Traceback")
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\s*\w*(Error|Exception)\b", re.MULTILINE)


def _wait_until(page, predicate, timeout_s: float, what: str, interval_s: float = 0.5):
    """Poll `predicate` until it returns something true (returned), failing after `timeout_s`.

    Waits with `page.wait_for_timeout`, never `time.sleep`: the sync Playwright API handles the
    page's events (and the request routing of the test) only while Python is inside a Playwright
    call, so a plain sleep would stall every request the page makes.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        page.wait_for_timeout(interval_s * 1000)


def _kernel_state(server: LabServer) -> str | None:
    "Execution state of the one session's kernel, from the REST API (None while there is none)."
    try:
        sessions = server.api("GET", "api/sessions")
    except (OSError, urllib.error.URLError, ValueError):
        return None
    states = [s["kernel"]["execution_state"] for s in sessions if s.get("kernel")]
    return states[0] if len(states) == 1 else None


def _menu(page, menu: str, item: str):
    "Click menu bar entry `menu`, then its item `item` (exact labels)."
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-content .lm-Menu-itemLabel",
                 has_text=re.compile(rf"^{re.escape(item)}$")).first.click()


# ---------------------------------------------------------------------------------------------
# tests


@pytest.mark.browser
@pytest.mark.slow
def test_chapter_runs_in_jupyterlab(playwright_api, playwright, lab, tmp_path):
    server, chapter = lab
    chromium = find_chromium()
    external: list[str] = []
    screenshot = tmp_path / "jupyterlab.png"

    def route(r):
        host = urllib.parse.urlsplit(r.request.url).hostname
        if host == "127.0.0.1" or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort("blockedbyclient")

    with contextlib.nullcontext(playwright) as pw:      # the session's one Playwright (conftest.py)
        browser_home = tmp_path / "browser-home"     # Chromium's crash-report and dconf files go here
        browser_env = dict(os.environ, XDG_CONFIG_HOME=str(browser_home / "config"),
                           XDG_CACHE_HOME=str(browser_home / "cache"))
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS, env=browser_env)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
            context.set_default_timeout(UI_TIMEOUT_MS)
            page = context.new_page()
            page.route("**/*", route)
            try:
                _drive_chapter(page, server, chapter, playwright_api.expect)
            except Exception as exc:
                with contextlib.suppress(Exception):   # a crashed page must not hide the real failure
                    page.screenshot(path=str(screenshot))
                raise AssertionError(f"{exc}\n(screenshot: {screenshot}; server log: {server.log_path})\n"
                                     f"{server.log_tail(15)}") from exc
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    assert not external, f"JupyterLab requested addresses off 127.0.0.1: {external}"


def _drive_chapter(page, server: LabServer, chapter: Path, expect):
    "Open the chapter, run all, check the outputs, move a slider and check the figure changed."
    n_code = sum(c["cell_type"] == "code" for c in json.loads(chapter.read_text(encoding="utf8"))["cells"])
    url = f"{server.base}lab/tree/{urllib.parse.quote(chapter.name)}?token={server.token}"
    page.goto(url)
    page.locator(".jp-NotebookPanel .jp-Notebook").wait_for()

    # the kernel: started by opening the notebook; wait until it is idle, in the API and on the page
    _wait_until(page, lambda: _kernel_state(server) == "idle", KERNEL_READY_TIMEOUT_S, "the kernel to be idle")
    expect(page.locator(".jp-NotebookPanel-toolbar .jp-Toolbar-kernelName")).not_to_have_text(
        re.compile("No Kernel"), timeout=UI_TIMEOUT_MS)
    # JupyterLab adds the cells to the page in batches after opening: wait for all of them
    _wait_until(page, lambda: page.locator(".jp-CodeCell").count() == n_code, UI_TIMEOUT_MS / 1000,
                f"the page to show the notebook's {n_code} code cells")
    # the implementation blocks open collapsed (`jupyter.source_hidden`, issue 16): one placeholder per collapsed cell;
    # View > Expand All Code shows them, so that every cell's prompt can be read below
    n_hidden = sum(c.get("metadata", {}).get("jupyter", {}).get("source_hidden", False)
                   for c in json.loads(chapter.read_text(encoding="utf8"))["cells"] if c["cell_type"] == "code")
    assert n_hidden > 0, f"{chapter.name} has no collapsed cell to check"
    expect(page.locator(".jp-CodeCell .jp-InputPlaceholder")).to_have_count(n_hidden, timeout=UI_TIMEOUT_MS)
    _menu(page, "View", "Expand All Code")
    expect(page.locator(".jp-CodeCell .jp-InputPlaceholder")).to_have_count(0, timeout=UI_TIMEOUT_MS)

    # Run > Run All Cells, then wait until no cell is queued or running and the kernel is idle
    _menu(page, "Run", "Run All Cells")

    def finished():
        prompts = page.evaluate(CODE_PROMPTS_JS)
        return ("[*]:" not in prompts and _kernel_state(server) == "idle"
                and page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0
                and len(prompts) == n_code and prompts)

    page.wait_for_timeout(1000)
    prompts = _wait_until(page, finished, RUN_ALL_TIMEOUT_S, "Run All Cells to finish")
    shown_errors = [t for t in page.evaluate(ERROR_TEXTS_JS) if ERROR_TEXT.search(t)]
    assert not shown_errors, "a cell failed in JupyterLab:\n" + "\n---\n".join(t[-2000:] for t in shown_errors)
    not_run = [i for i, p in enumerate(prompts) if not re.fullmatch(r"\[\d+\]:", p)]
    assert not not_run, f"code cells (by position) that did not run: {not_run}; prompts {prompts}"

    # the saved notebook says the same: every code cell has an execution count, no error output
    _menu(page, "File", "Save Notebook")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=UI_TIMEOUT_MS)
    nb = json.loads(chapter.read_text(encoding="utf8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) == n_code
    assert all(c.get("execution_count") for c in code), "a code cell has no execution count in the saved notebook"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, "error outputs in the saved notebook: " + "; ".join(f"{o['ename']}: {o['evalue']}" for o in errors)

    # the interactive figure: a cell whose output has the widget's sliders and one PNG
    cell = page.locator(".jp-CodeCell").filter(has=page.locator(".widget-slider .noUi-handle")).filter(
        has=page.locator(".jp-OutputArea-output img")).first
    cell.scroll_into_view_if_needed()
    image = cell.locator(".jp-OutputArea-output img").first
    readout = cell.locator(".widget-slider .widget-readout").first
    expect(image).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    before_src, before_value = image.get_attribute("src"), readout.text_content()

    handle = cell.locator(".widget-slider .noUi-handle").first
    handle.focus()
    for _ in range(SLIDER_KEY_PRESSES):
        handle.press("ArrowRight")
    expect(readout).not_to_have_text(before_value, timeout=UI_TIMEOUT_MS)

    def redrawn():
        src = image.get_attribute("src") or ""
        return src.startswith("data:image/png;base64,") and src != before_src

    _wait_until(page, redrawn, REDRAW_TIMEOUT_S,
                f"the figure to change after moving the slider from {before_value} to {readout.text_content()}")
    assert cell.locator(".jp-OutputArea-output img").count() == 1, "the redraw added a figure instead of replacing it"
    _wait_until(page, lambda: _kernel_state(server) == "idle", KERNEL_READY_TIMEOUT_S, "the kernel to be idle after the redraw")


# ---------------------------------------------------------------------------------------------
# every module a notebook imports is declared


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> tuple[str, list[str]]:
    "Distribution name and extras of a PEP 508 requirement string."
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", req)
    assert m, f"cannot parse requirement {req!r}"
    return _normalize(m.group(1)), [e.strip() for e in (m.group(2) or "").split(",") if e.strip()]


def declared_distributions(groups=("notebooks",)) -> set[str]:
    "Normalized names of the runtime dependencies plus those of the extras `groups` (self-references followed)."
    try:
        import tomllib
    except ModuleNotFoundError:   # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]
    extras = project.get("optional-dependencies", {})
    me = _normalize(project["name"])
    names: set[str] = set()
    todo, seen = list(project.get("dependencies", [])) + [r for g in groups for r in extras[g]], set()
    while todo:
        name, req_extras = _requirement_name(todo.pop())
        if name == me:
            for e in req_extras:
                if e not in seen:
                    seen.add(e)
                    todo.extend(extras[e])
        else:
            names.add(name)
    return names


def notebook_imports(nb_path: Path) -> dict[str, int]:
    "Top-level module names a notebook's code cells import (absolute imports), with a cell index each."
    nb = json.loads(nb_path.read_text(encoding="utf8"))
    found: dict[str, int] = {}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        if src.lstrip().startswith("%%"):        # a cell magic: not Python
            continue
        # IPython line magics / shell escapes become `pass` (keeps an `if` body valid); `#|` is a comment
        lines = [re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in src.splitlines()]
        tree = ast.parse("\n".join(lines), filename=f"{nb_path.name}[cell {i}]")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                found.setdefault(mod.split(".")[0], i)
    return found


NOTEBOOKS = sorted(NBS.glob("*.ipynb"))


def test_notebook_imports_are_declared():
    assert NOTEBOOKS, f"no notebooks in {NBS}"
    declared = declared_distributions()
    providers = packages_distributions()
    problems = []
    for nb_path in NOTEBOOKS:
        for mod, cell in sorted(notebook_imports(nb_path).items()):
            if mod in sys.stdlib_module_names or mod == "redunet_book":
                continue
            dists = {_normalize(d) for d in providers.get(mod, [])}
            if not dists & declared:
                why = f"provided by {sorted(dists)}" if dists else "not installed"
                problems.append(f"{nb_path.name} (cell {cell}) imports {mod!r}: {why}, "
                                "not declared in pyproject.toml's dependencies or `notebooks` extra")
    assert not problems, "\n".join(problems)
