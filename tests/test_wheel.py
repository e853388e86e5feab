"""The package as a dependency: build the wheel (and sdist) from the files git tracks, install it into
a brand-new virtual environment outside the repository with its runtime dependencies only, and use
it from there: the README's example, every module's docstring, `help(redunet_book)`, the metadata
(license), the console scripts, and no `matplotlib.pyplot` behind any module but `viz`.

It costs about 30 s of CPU on 2 cores (35-90 s of wall time, mostly writing and deleting the ~1 GB venv).
The installs read the package index (or pip's cache): where neither has what they need, the test
fails and says so; it is never skipped."""
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the copy vendored in pip
    from pip._vendor import tomli as tomllib

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TORCH_PIN = "torch==2.13.0"  # the pin of constraints.txt and the Makefile (a CPU build on the project's machines)
# As in the Makefile: extra pip arguments for the torch install only, e.g.
# TORCH_INSTALL_ARGS="--index-url https://download.pytorch.org/whl/cpu" where no local CPU wheel is configured.
TORCH_INSTALL_ARGS = shlex.split(os.environ.get("TORCH_INSTALL_ARGS", ""))
PYPLOT_ALLOWED = {"viz"}  # the only module that may import matplotlib.pyplot


def package_modules() -> list[str]:
    "The package's public modules, from the source tree (collection time, before anything is built)."
    return sorted(p.stem for p in (ROOT / "redunet_book").glob("*.py") if not p.stem.startswith("_"))


def console_scripts() -> list[str]:
    "The console scripts pyproject.toml declares."
    return sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("scripts", {}))


def clean_env(**extra) -> dict:
    "The environment for the new venv's processes: nothing that points back at the repository's venv."
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH"}}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONNOUSERSITE="1", **extra)
    return env


def run(cmd, cwd, what: str, timeout: float = 300, env=None) -> subprocess.CompletedProcess:
    "Run `cmd`; on failure, fail the test with `what` and the end of its output."
    try:
        res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or clean_env(), capture_output=True, check=False,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{what}: no answer after {timeout:.0f} s ({' '.join(map(str, cmd))})\n{e.stdout or ''}{e.stderr or ''}")
    if res.returncode:
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-40:])
        pytest.fail(f"{what} failed (exit {res.returncode}): {' '.join(map(str, cmd))}\n{tail}")
    return res


def pip_install(py: Path, args: list, cwd: Path, hint: str = "") -> None:
    "pip install in the new venv; a failure says that the package index (or pip's cache) is needed."
    # --no-compile: pip would byte-compile every file of torch (about 10,000 .pyc files, most of the install's time
    # and of the time to delete the venv); Python compiles the few hundred that get imported, on first import.
    cmd = [py, "-m", "pip", "install", "--no-compile", "-c", ROOT / "constraints.txt", *args]
    try:
        res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=clean_env(), capture_output=True, text=True, check=False,
                             timeout=900)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pip install {' '.join(map(str, args))} took over 15 minutes: is the package index reachable?")
    if res.returncode:
        tail = "\n".join(line for line in (res.stdout + res.stderr).splitlines()[-40:] if "is ignored: it is neither" not in line)
        pytest.fail(
            f"pip install {' '.join(map(str, args))} failed (exit {res.returncode}). This test installs the wheel's "
            "runtime dependencies into a new virtual environment, from the package index (PyPI, or the index in "
            "pip's configuration) or pip's cache: without network access and without those files in the cache it "
            f"cannot run.{hint}\n{tail}")


def tracked_files() -> list[str]:
    "What git would commit: tracked files and untracked ones that are not ignored (build outputs never are)."
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.fail(f"the wheel test builds from the files git tracks, and `git ls-files` failed in {ROOT}: {e}")
    return sorted({f for f in out.split("\0") if f and (ROOT / f).is_file()})


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict:
    "sdist and wheel built from a copy of the tracked files (the repository itself is not touched)."
    base = tmp_path_factory.mktemp("wheel")
    src, out = base / "src", base / "dist"
    for f in tracked_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    # sdist first, then the wheel from the sdist: proves the sdist is complete too. No isolation: the
    # build backend (setuptools>=77) comes from this environment, so building needs no network.
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, src], cwd=base, what="python -m build")
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, f"expected one wheel and one sdist in {out}: {sorted(out.iterdir())}"
    return {"wheel": wheels[0], "sdist": sdists[0], "base": base}


@pytest.fixture(scope="module")
def venv(dist):
    """A new venv outside the repository (no system site packages): torch pinned first, then the wheel with its
    runtime dependencies (no extras), all under constraints.txt. Removed afterwards (it holds about 1.5 GB)."""
    base = dist["base"]
    env_dir, work = base / "venv", base / "work"
    work.mkdir()
    try:
        run([sys.executable, "-m", "venv", env_dir], cwd=base, what="python -m venv")
        py = env_dir / "bin" / "python"
        pip_install(py, [*TORCH_INSTALL_ARGS, TORCH_PIN], cwd=work,
                    hint=" Extra pip arguments for this step go in TORCH_INSTALL_ARGS, as for the Makefile.")
        pip_install(py, [dist["wheel"]], cwd=work)
        yield {"dir": env_dir, "python": py, "bin": env_dir / "bin", "work": work}
    finally:
        shutil.rmtree(env_dir, ignore_errors=True)


INSPECT = textwrap.dedent(r'''
    import importlib, importlib.metadata as md, json, pkgutil, pydoc, sys
    import redunet_book
    res = {"file": redunet_book.__file__, "doc": redunet_book.__doc__, "version": redunet_book.__version__,
           "help": pydoc.plain(pydoc.render_doc(redunet_book)), "modules": {}, "errors": {}}
    for m in pkgutil.iter_modules(redunet_book.__path__):
        try: res["modules"][m.name] = importlib.import_module(f"redunet_book.{m.name}").__doc__
        except Exception as e: res["errors"][m.name] = f"{type(e).__name__}: {e}"
    dist = md.distribution("redunet-book")
    res["metadata"] = {k: dist.metadata.get_all(k) for k in ("Name", "Version", "License-Expression", "License-File",
                                                              "Requires-Dist")}
    res["licenses"] = {str(f): f.read_text() for f in dist.files or () if "/licenses/" in str(f)}
    res["scripts"] = {e.name: e.value for e in dist.entry_points if e.group == "console_scripts"}
    print(json.dumps(res))
''')


@pytest.fixture(scope="module")
def installed(venv) -> dict:
    "What the installed package says about itself, from one process in the new venv."
    res = run([venv["python"], "-c", INSPECT], cwd=venv["work"], what="inspecting the installed package", timeout=300)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_wheel_contents(dist):
    names = zipfile.ZipFile(dist["wheel"]).namelist()
    assert any(re.fullmatch(r"redunet_book-[^/]+\.dist-info/licenses/LICENSE", n) for n in names), names
    pkg = {n for n in names if not n.startswith("redunet_book-")}
    assert all(n.startswith("redunet_book/") for n in pkg), f"files outside the package: {sorted(pkg)}"
    expected = {f"redunet_book/{p.name}" for p in (ROOT / "redunet_book").glob("*.py")}
    assert expected <= pkg, f"modules missing from the wheel: {sorted(expected - pkg)}"
    with tarfile.open(dist["sdist"]) as t:
        sdist = {n.split("/", 1)[-1] for n in t.getnames()}
    assert {"LICENSE", "README.md", "pyproject.toml"} <= sdist, sorted(sdist)


def test_installed_outside_the_repository(installed, venv):
    where = Path(installed["file"]).resolve()
    assert where.is_relative_to(venv["dir"].resolve()), f"redunet_book imported from {where}, not from the new venv"
    assert not where.is_relative_to(ROOT), where


def test_readme_import_example(venv):
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Import the package\n(.*?)(?=^## |\Z)", readme, re.DOTALL | re.MULTILINE)
    assert section, "README.md has no '## Import the package' section"
    block = re.search(r"^```python\n(.*?)^```", section.group(1), re.DOTALL | re.MULTILINE)
    assert block, "README's 'Import the package' section has no ```python block"
    (venv["work"] / "readme_example.py").write_text(block.group(1))
    out = run([venv["python"], "readme_example.py"], cwd=venv["work"], what="the README's example").stdout
    last = out.strip().splitlines()[-1] if out.strip() else ""
    number = re.search(r"[-+]?(?:nan|inf|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", last)
    assert number, f"the README's example printed no number: {out!r}"
    assert math.isfinite(float(number.group(0))), f"the README's example printed {last!r}"


def test_every_module_imports_with_a_summary_docstring(installed):
    assert not installed["errors"], f"modules that do not import from the installed wheel: {installed['errors']}"
    assert set(package_modules()) <= set(installed["modules"]), "modules of the source tree missing from the install"
    bad = {}
    for name, doc in sorted(installed["modules"].items()):
        if name.startswith("_"):
            continue  # _modidx: nbdev's generated index, private
        lines = (doc or "").strip().splitlines()
        first = lines[0].strip() if lines else ""
        if not first:
            bad[name] = "no docstring"
        elif first.startswith("Docs:") or "http" in first:
            bad[name] = f"first line is not a summary: {first!r}"
        elif len(lines) > 1 and lines[1].strip():
            bad[name] = "the summary is not one line followed by a blank line"
        elif any(line.strip().startswith("Docs:") for line in lines):
            bad[name] = "placeholder 'Docs:' line"
    assert not bad, f"module docstrings: {bad}"


def test_help_describes_the_package(installed):
    doc = (installed["doc"] or "").strip()
    assert doc, ("redunet_book has no docstring, so help(redunet_book) says nothing about it: put a one-line summary "
                 "above __version__ in redunet_book/__init__.py (nbdev-export keeps it)")
    first = doc.splitlines()[0]
    assert first and not first.startswith("Docs:") and "http" not in first, first
    text = installed["help"]  # pydoc's text: the summary goes on the NAME line, the rest under DESCRIPTION
    assert f"redunet_book - {first}" in text, text[:2000]
    contents = text.split("PACKAGE CONTENTS", 1)[-1]
    assert all(f"    {m}\n" in contents for m in package_modules()), text[:2000]


def test_metadata_license(installed):
    meta = installed["metadata"]
    assert meta["Name"] == ["redunet-book"] and meta["Version"] == [installed["version"]], meta
    assert meta["License-Expression"] == ["Apache-2.0"], meta
    assert meta["License-File"] == ["LICENSE"], meta
    texts = list(installed["licenses"].values())
    assert len(texts) == 1, f"license files in the dist-info: {sorted(installed['licenses'])}"
    text = texts[0]
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    assert text == (ROOT / "LICENSE").read_text()
    requires = meta["Requires-Dist"] or []
    runtime = sorted(r for r in requires if "extra ==" not in r)
    assert any(r.startswith("torch") for r in runtime), runtime


def test_declared_console_scripts_are_installed(installed):
    assert sorted(installed["scripts"]) == console_scripts(), installed["scripts"]


@pytest.mark.parametrize("script", console_scripts())
def test_console_script_help(venv, script):
    exe = venv["bin"] / script
    assert exe.exists(), f"{script} is not in {venv['bin']}"
    out = run([exe, "--help"], cwd=venv["work"], what=f"{script} --help", timeout=120).stdout
    assert "usage:" in out.lower(), out


# Each module is imported alone in a process of its own (sys.modules is per process): one interpreter imports
# torch and numpy (third-party, checked free of matplotlib), then forks a child per module, which saves
# starting torch 17 times. The finder records which redunet_book module asked for matplotlib.pyplot first,
# so a failure names the import to move.
PYPLOT_PROBE = textwrap.dedent(r'''
    import importlib, json, os, sys
    import numpy, torch
    early = sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "redunet_book"))
    assert not early, f"loaded before any redunet_book module: {early}"
    class Spy:
        def __init__(self): self.by = []
        def find_spec(self, name, path=None, target=None):
            if name == "matplotlib.pyplot":
                f = sys._getframe(1)
                while f and not f.f_globals.get("__name__", "").startswith("redunet_book"): f = f.f_back
                self.by.append(f.f_globals["__name__"] if f else "?")
            return None
    results = {}
    for name in sys.argv[1:]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            spy = Spy()
            sys.meta_path.insert(0, spy)
            try:
                importlib.import_module(f"redunet_book.{name}")
                out = {"pyplot": "matplotlib.pyplot" in sys.modules, "by": spy.by}
            except BaseException as e:
                out = {"error": f"{type(e).__name__}: {e}"}
            os.write(w, json.dumps(out).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f: data = f.read()
        _, status = os.waitpid(pid, 0)
        results[name] = json.loads(data) if data else {"error": f"the child process died (wait status {status})"}
    print(json.dumps(results))
''')


@pytest.fixture(scope="module")
def pyplot_probes(venv) -> dict:
    "For each module but viz: does importing it, alone in a fresh process, load matplotlib.pyplot?"
    names = [m for m in package_modules() if m not in PYPLOT_ALLOWED]
    res = run([venv["python"], "-c", PYPLOT_PROBE, *names], cwd=venv["work"], what="importing each module alone")
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", [m for m in package_modules() if m not in PYPLOT_ALLOWED])
def test_module_does_not_load_pyplot(pyplot_probes, module):
    res = pyplot_probes[module]
    assert "error" not in res, f"import redunet_book.{module} failed: {res['error']}"
    assert not res["pyplot"], (f"import redunet_book.{module} loads matplotlib.pyplot (first imported by "
                               f"{', '.join(sorted(set(res['by'])))}); only {sorted(PYPLOT_ALLOWED)} may")
