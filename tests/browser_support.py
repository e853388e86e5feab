"""What the browser tests share: where the built site is, how Chromium is found and started, and
when a missing site is a failure rather than a skip (tests/test_site.py, test_online.py, test_lab.py).

- `SITE`: the built book, `_build/html`, or the folder `REDUNET_BOOK_SITE` names.
- `find_chromium()`: `REDUNET_BOOK_CHROMIUM` (a missing path simulates a machine without a browser),
  else `/usr/bin/chromium`, else `chromium` / `chromium-browser` on PATH. A missing browser is a
  visible skip everywhere (`make chromium` installs Debian's).
- `require_site()`: `REDUNET_BOOK_REQUIRE_SITE=1` (set by `make test`) turns a missing built site into
  a failure.
- `CHROMIUM_ARGS`: the flags Chromium needs here (root, no GPU, a closed network: no background
  connections that would be refused by the dozen).
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("REDUNET_BOOK_SITE") or ROOT / "_build" / "html").resolve()

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class LocalServer:
    "An http.server on 127.0.0.1:<free port>, served by a thread while used in a `with` block."

    def __init__(self, handler):  # a request handler class (or a factory of one)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def require_site() -> bool:
    "Whether a missing built site must fail the run (`REDUNET_BOOK_REQUIRE_SITE=1`, as `make test` sets)."
    return os.environ.get("REDUNET_BOOK_REQUIRE_SITE", "") not in ("", "0", "false", "no")


def find_chromium() -> str | None:
    "Path of the Chromium executable, or None (see the module docstring for the search order)."
    env = os.environ.get("REDUNET_BOOK_CHROMIUM")
    if env is not None:
        return env if Path(env).is_file() and os.access(env, os.X_OK) else None
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def built_site() -> Path:
    "`SITE` if the book is built there; else a skip, or a failure under `REDUNET_BOOK_REQUIRE_SITE=1`."
    if not (SITE / "index.html").is_file():
        msg = f"book not built: {SITE / 'index.html'} is missing (run `make book`)"
        if require_site():
            pytest.fail(msg + " and REDUNET_BOOK_REQUIRE_SITE=1", pytrace=False)
        pytest.skip(msg)
    return SITE


def chromium_or_skip() -> str:
    "The Chromium executable, or a visible skip that says how to install it."
    path = find_chromium()
    if path is None:
        where = os.environ.get("REDUNET_BOOK_CHROMIUM", "/usr/bin/chromium or chromium on PATH")
        pytest.skip(f"Chromium not found ({where}); install it with `make chromium` "
                    "(Debian: apt-get install -y chromium) to run the browser checks")
    return path
