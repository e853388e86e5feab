#!/usr/bin/env python3
"""Vendor the browser assets the book needs, so the built site works offline.

The pinned versions live in `package.json` / `package-lock.json` (repository root). This script

1. runs `npm ci --ignore-scripts` when `node_modules/` does not hold exactly the locked versions;
2. copies only what the site loads at view time into `book_assets/vendor/`:

   - `mathjax/`       MathJax 3 `es5/` build: `tex-mml-chtml.js` (the file `_config.yml` points
                      `mathjax_path` at), `tex-chtml.js`, and everything they load lazily
                      (`input/tex/extensions/*`, CHTML woff fonts, `a11y/*`, `ui/*`, `sre/*`);
   - `requirejs/`     `require.js` (the npm package ships no minified copy);
   - `html-manager/`  `@jupyter-widgets/html-manager`'s `dist/embed-amd.js` plus the font files
                      its bundled CSS references relative to the script (Font Awesome).

`book_assets/` is listed in `html_static_path`, so Sphinx copies its contents into
`_build/html/_static/`. It is *not* called `_static`: Jupyter Book would add every `.js` file in a
source `_static/` folder to every page.

The result is idempotent: a stamp (`book_assets/.stamp.json`, the lock file's hash plus this
script's copy manifest) makes a second run return at once. `--check` only reports whether the
assets are up to date (exit 1 if not); `--force` redoes everything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
DEST = ROOT / "book_assets"
VENDOR = DEST / "vendor"
STAMP = DEST / ".stamp.json"
LOCK = ROOT / "package-lock.json"

# Bump when the copy rules below change, so that the stamp is invalidated.
MANIFEST_VERSION = 2

# package name -> list of (source relative to the package, destination relative to VENDOR, ignore globs)
MATHJAX_IGNORE = (
    # combined bundles we do not reference (SVG output / MathML-only input / speech / node)
    "tex-svg.js",
    "tex-svg-full.js",
    "tex-mml-svg.js",
    "mml-svg.js",
    "mml-chtml.js",
    "tex-chtml-full-speech.js",
    "node-main.js",
    "adaptors",
    # `latest.js` re-loads MathJax from a CDN: never ship it
    "latest.js",
)
COPIES = {
    "mathjax": [("es5", "mathjax", MATHJAX_IGNORE), ("LICENSE", "mathjax/LICENSE", ())],
    "requirejs": [("require.js", "requirejs/require.js", ())],
    "@jupyter-widgets/html-manager": [
        ("dist/embed-amd.js", "html-manager/embed-amd.js", ()),
        ("dist/embed.js.LICENSE.txt", "html-manager/LICENSE.txt", ()),
        # webpack emits the Font Awesome fonts next to the bundle and loads them relative to it
        ("dist/*.woff2", "html-manager/", ()),
        ("dist/*.woff", "html-manager/", ()),
        ("dist/*.ttf", "html-manager/", ()),
        ("dist/*.eot", "html-manager/", ()),
        ("dist/*.svg", "html-manager/", ()),
    ],
}

# Files the book configuration refers to; they must exist after vendoring.
REQUIRED = [
    "mathjax/tex-mml-chtml.js",
    "mathjax/tex-chtml.js",
    "mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff",
    "mathjax/input/tex/extensions/boldsymbol.js",
    "requirejs/require.js",
    "html-manager/embed-amd.js",
]


def log(msg: str) -> None:
    print(f"[vendor_assets] {msg}", flush=True)


def locked_versions() -> dict[str, str]:
    """Exact versions of the direct dependencies, read from package-lock.json."""
    lock = json.loads(LOCK.read_text(encoding="utf8"))
    pkgs = lock["packages"]
    direct = pkgs[""]["dependencies"]
    return {name: pkgs[f"node_modules/{name}"]["version"] for name in direct}


def stamp_value() -> dict:
    """What the vendored folder was made from (the stamp); dot-files are not copied by Sphinx."""
    return {
        "generated_by": "tools/vendor_assets.py (make assets); do not edit or commit",
        "versions": locked_versions(),
        "lock_sha256": hashlib.sha256(LOCK.read_bytes()).hexdigest(),
        "manifest_version": MANIFEST_VERSION,
        "copies": {k: [[s, d, list(i)] for s, d, i in v] for k, v in COPIES.items()},
    }


def assets_up_to_date() -> bool:
    if not STAMP.is_file():
        return False
    try:
        if json.loads(STAMP.read_text(encoding="utf8")) != stamp_value():
            return False
    except (OSError, ValueError):
        return False
    return all((VENDOR / rel).is_file() for rel in REQUIRED)


def node_modules_matches(versions: dict[str, str]) -> bool:
    for name, version in versions.items():
        pj = NODE_MODULES / name / "package.json"
        if not pj.is_file():
            return False
        try:
            if json.loads(pj.read_text(encoding="utf8")).get("version") != version:
                return False
        except ValueError:
            return False
    return True


def npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(
            "[vendor_assets] error: `npm` not found. Install Node.js + npm "
            "(Debian: `apt-get install -y nodejs npm`) and re-run `make assets`."
        )
    cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    log("running " + " ".join(cmd[1:]) + " (installs the exact versions from package-lock.json)")
    subprocess.run(cmd, cwd=ROOT, check=True)


def copy_tree_or_file(src_pkg: Path, src: str, dst: Path, ignore: tuple[str, ...]) -> None:
    if any(ch in src for ch in "*?["):
        matches = sorted(src_pkg.glob(src))
        if not matches:
            raise FileNotFoundError(f"{src_pkg / src}: no match")
        dst.mkdir(parents=True, exist_ok=True)
        for m in matches:
            shutil.copy2(m, dst / m.name)
        return
    s = src_pkg / src
    if s.is_dir():
        shutil.copytree(s, dst, ignore=shutil.ignore_patterns(*ignore) if ignore else None)
    elif s.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(s, dst)
    else:
        raise FileNotFoundError(s)


def vendor() -> None:
    versions = locked_versions()
    if not node_modules_matches(versions):
        npm_ci()
        if not node_modules_matches(versions):
            sys.exit("[vendor_assets] error: node_modules does not match package-lock.json after `npm ci`")

    tmp = DEST.with_name(DEST.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp_vendor = tmp / "vendor"
    for pkg, rules in COPIES.items():
        src_pkg = NODE_MODULES / pkg
        for src, dst, ignore in rules:
            copy_tree_or_file(src_pkg, src, tmp_vendor / dst, ignore)
    missing = [rel for rel in REQUIRED if not (tmp_vendor / rel).is_file()]
    if missing:
        shutil.rmtree(tmp)
        sys.exit(f"[vendor_assets] error: missing after copy: {missing}")
    (tmp / STAMP.name).write_text(json.dumps(stamp_value(), indent=1, sort_keys=True), encoding="utf8")

    # swap in atomically-enough: the old folder is removed only once the new one is complete
    if DEST.exists():
        old = DEST.with_name(DEST.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(DEST, old)
        os.replace(tmp, DEST)
        shutil.rmtree(old)
    else:
        os.replace(tmp, DEST)
    size = sum(p.stat().st_size for p in DEST.rglob("*") if p.is_file())
    log(f"vendored {', '.join(f'{k}@{v}' for k, v in sorted(versions.items()))} "
        f"into {DEST.relative_to(ROOT)}/ ({size / 2**20:.1f} MiB)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 if assets are missing or stale")
    ap.add_argument("--force", action="store_true", help="re-copy even if the stamp says up to date")
    args = ap.parse_args(argv)
    if assets_up_to_date() and not args.force:
        log(f"{DEST.relative_to(ROOT)}/ is up to date")
        return 0
    if args.check:
        log(f"{DEST.relative_to(ROOT)}/ is missing or stale: run `make assets`")
        return 1
    vendor()
    return 0


if __name__ == "__main__":
    sys.exit(main())
