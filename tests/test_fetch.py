"""Tests for redunet_book.fetch: finding, downloading and copying MNIST, the command, and `make data` on a bare clone."""
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redunet_book import fetch
from redunet_book.fetch import DataUnavailable, MNIST_FILES, MNIST_SHA256, ensure_mnist, find_mnist, sha256_file

REPO = Path(__file__).resolve().parents[1]
FOUND = find_mnist("test")          # the real test split, as `make data` provisioned it
needs_mnist = pytest.mark.skipif(FOUND is None, reason="the MNIST test split is not provisioned: run `make data`")
# Every request through urllib goes to a closed local port: "no network", whatever the machine has.
NO_NETWORK = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "no_proxy": ""}


class Resp(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    "No $REDUNET_DATA / mirror variable, and a cache folder of our own."
    for k in ("REDUNET_DATA", "REDUNET_MNIST_MIRROR"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "redunet_book" / "mnist"


def no_network(*a, **k):
    raise OSError("network is unreachable (test)")


@needs_mnist
def test_ensure_finds_without_network(isolated, monkeypatch):
    monkeypatch.setattr(fetch.urllib.request, "urlopen", lambda *a, **k: pytest.fail("no download expected"))
    assert ensure_mnist("test", root=FOUND[0].parent) == FOUND[0].parent


@needs_mnist
def test_ensure_downloads_into_cache_and_checks(isolated, monkeypatch):
    served = {f"{m}{p.name}": p.read_bytes() for m in fetch.MNIST_MIRRORS for p in FOUND}
    asked = []

    def urlopen(url, timeout):
        asked.append(url)
        if url.startswith(fetch.MNIST_MIRRORS[0]):
            raise OSError("first mirror down")
        return Resp(served[url])
    monkeypatch.setattr(fetch.urllib.request, "urlopen", urlopen)
    assert ensure_mnist("test") == isolated
    assert sorted(p.name for p in isolated.iterdir()) == sorted(p.name for p in FOUND)
    assert all(sha256_file(isolated / p.name) == MNIST_SHA256[p.name] for p in FOUND)
    assert sum(u.startswith(fetch.MNIST_MIRRORS[0]) for u in asked) == 1       # a dead mirror is asked once


@needs_mnist
def test_ensure_copies_from_mirror_when_offline(isolated, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.urllib.request, "urlopen", no_network)
    mirror = tmp_path / "usb" / "mnist"
    mirror.mkdir(parents=True)
    for p in FOUND:
        shutil.copy(p, mirror / p.name)
    monkeypatch.setenv("REDUNET_MNIST_MIRROR", str(tmp_path / "usb"))           # the folder holding mnist/
    assert ensure_mnist("test") == isolated and find_mnist("test") is not None
    (mirror / FOUND[0].name).write_bytes(b"damaged")
    with pytest.raises(DataUnavailable, match="checksum mismatch"):
        ensure_mnist("test", root=tmp_path / "other")
    assert not (tmp_path / "other" / FOUND[0].name).exists()


def test_unavailable_is_one_line(isolated, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.urllib.request, "urlopen", no_network)
    with pytest.raises(DataUnavailable) as err:
        ensure_mnist("test")
    assert isinstance(err.value, FileNotFoundError) and "\n" not in str(err.value)
    assert "REDUNET_DATA" in str(err.value) and "REDUNET_MNIST_MIRROR" in str(err.value)
    assert not any(isolated.glob("*.part"))
    with pytest.raises(ValueError, match="split must be"):
        ensure_mnist("validation")


def run_fetch(args, env, cwd):
    "`python -S -m redunet_book.fetch`: no site-packages, so the module must need the standard library only."
    return subprocess.run([sys.executable, "-S", "-m", "redunet_book.fetch", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def bare_env(tmp_path) -> dict:
    # no data or mirror variables, and none of an outer make's (`make test MNIST_MIRROR=...` puts MNIST_MIRROR in
    # the environment of its recipes and in MAKEFLAGS, so a make started by a test would see it)
    drop = {"REDUNET_DATA", "REDUNET_MNIST_MIRROR", "MNIST_MIRROR", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
            "MAKEOVERRIDES"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(NO_NETWORK, XDG_CACHE_HOME=str(tmp_path / "cache"), HOME=str(tmp_path / "home"))
    return env


def test_command_stdlib_only_and_one_line_error(tmp_path):
    r = run_fetch(["--no-train"], bare_env(tmp_path), REPO)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: MNIST test split not found")
    assert "Traceback" not in r.stderr


@needs_mnist
def test_command_copies_test_split_and_skips_missing_train(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for p in FOUND:
        shutil.copy(p, mirror / p.name)
    r = run_fetch(["--mirror", str(mirror)], bare_env(tmp_path), REPO)
    assert r.returncode == 0, r.stderr
    assert "MNIST test split:" in r.stdout and "MNIST train split: not available" in r.stdout
    assert find_mnist("test", tmp_path / "cache" / "redunet_book" / "mnist") is not None


def bare_clone(tmp_path) -> Path:
    "The working tree's files (tracked, or new and not ignored), in a folder with nothing beside it (no ../shared)."
    clone = tmp_path / "alone" / "redunet-book"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for rel in filter(None, files.split("\0")):
        if (REPO / rel).is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, clone / rel)
    return clone


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_book_on_bare_clone_stops_at_once(tmp_path):
    "The README's `make book`, on a clone with nothing beside it, no network, no REDUNET_DATA: one line, within a minute."
    clone = bare_clone(tmp_path)
    t0 = time.monotonic()
    r = subprocess.run(["make", "book"], cwd=clone, env=bare_env(tmp_path), capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    assert r.returncode != 0 and elapsed < 60
    errors = [line for line in r.stderr.splitlines() if not line.startswith("make")]
    assert len(errors) == 1 and errors[0].startswith("error: MNIST test split not found"), r.stderr
    assert not (clone / ".venv").exists()                      # stopped before installing anything


@needs_mnist
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_data_with_offline_mirror_variable(tmp_path):
    clone = bare_clone(tmp_path)
    mirror = tmp_path / "alone" / "offline-mnist"
    mirror.mkdir(parents=True)
    for p in FOUND:
        shutil.copy(p, mirror / p.name)
    r = subprocess.run(["make", "data", f"MNIST_MIRROR={mirror}"], cwd=clone, env=bare_env(tmp_path),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    cache = tmp_path / "cache" / "redunet_book" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{b}.gz" for b in MNIST_FILES["test"])


# Fashion-MNIST (issue 17): its own folder, decompressed digests, Debian's package as the local source.
def fake_fashion(folder: Path, monkeypatch, compress: bool = True) -> None:
    "Four fake Fashion-MNIST files in `folder`, whose decompressed digests are declared the pinned ones for the test."
    import gzip
    import hashlib
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        for base in MNIST_FILES[split]:
            data = f"fashion {base}".encode()
            (folder / (base + (".gz" if compress else ""))).write_bytes(gzip.compress(data) if compress else data)
            monkeypatch.setitem(fetch.FASHION_SHA256, base, hashlib.sha256(data).hexdigest())


def test_fashion_folders_are_apart_from_mnist(isolated, tmp_path, monkeypatch):
    assert fetch.mnist_folders(dataset="fashion-mnist") == [isolated.parent / "fashion-mnist"]      # the cache's sibling
    assert fetch.mnist_folders(tmp_path / "d", dataset="fashion-mnist") == [tmp_path / "d" / "fashion-mnist"]
    monkeypatch.setenv("REDUNET_DATA", str(tmp_path / "env"))
    assert fetch.data_folder(dataset="fashion-mnist") == tmp_path / "env" / "fashion-mnist"
    with pytest.raises(ValueError, match="dataset"):
        fetch.find_mnist("test", dataset="cifar10")


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_digest_is_of_the_decompressed_file(tmp_path, monkeypatch, compress):
    fake_fashion(tmp_path / "src", monkeypatch, compress)
    name = "t10k-images-idx3-ubyte" + (".gz" if compress else "")
    assert fetch.verified(tmp_path / "src" / name, "fashion-mnist")
    assert not fetch.verified(tmp_path / "src" / name)                          # not an MNIST file
    import gzip
    (tmp_path / "src" / name).write_bytes(gzip.compress(b"other") if compress else b"other")
    assert not fetch.verified(tmp_path / "src" / name, "fashion-mnist")
    (tmp_path / "src" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    assert not fetch.verified(tmp_path / "src" / "t10k-labels-idx1-ubyte.gz", "fashion-mnist")


def test_fashion_copied_from_debian_folder_before_any_download(isolated, tmp_path, monkeypatch):
    fake_fashion(tmp_path / "debian", monkeypatch)
    monkeypatch.setattr(fetch, "DEBIAN_FASHION", str(tmp_path / "debian"))
    monkeypatch.setattr(fetch.urllib.request, "urlopen", lambda *a, **k: pytest.fail("no download expected"))
    for split in ("train", "test"):
        where = ensure_mnist(split, dataset="fashion-mnist")
        assert where == isolated.parent / "fashion-mnist" and find_mnist(split, dataset="fashion-mnist") is not None
    assert find_mnist("test") is None                                          # MNIST's folder is untouched


def test_fashion_downloaded_and_checked_when_no_debian_folder(isolated, tmp_path, monkeypatch):
    fake_fashion(tmp_path / "server", monkeypatch)
    monkeypatch.setattr(fetch, "DEBIAN_FASHION", str(tmp_path / "none"))
    seen = []

    def serve(url, timeout):
        seen.append(url)
        return Resp((tmp_path / "server" / url.rsplit("/", 1)[1]).read_bytes())
    monkeypatch.setattr(fetch.urllib.request, "urlopen", serve)
    ensure_mnist("test", dataset="fashion-mnist")
    assert all(u.startswith(fetch.FASHION_MIRRORS[0]) for u in seen) and len(seen) == 2
    monkeypatch.setitem(fetch.FASHION_SHA256, "train-images-idx3-ubyte", "0" * 64)   # a damaged download is refused
    with pytest.raises(DataUnavailable, match="Fashion-MNIST train split not found.*dataset-fashion-mnist"):
        ensure_mnist("train", dataset="fashion-mnist")
    assert not list((isolated.parent / "fashion-mnist").glob("*.part"))


def test_command_provisions_fashion_and_no_fashion_skips_it(tmp_path, monkeypatch):
    "main() with a mirror holding MNIST's test split: Fashion-MNIST required unless --no-fashion (one line on stderr)."
    import contextlib
    monkeypatch.setattr(fetch, "DEBIAN_FASHION", str(tmp_path / "none"))
    monkeypatch.setattr(fetch.urllib.request, "urlopen", no_network)
    mirror = tmp_path / "mirror"
    fake_split = {base: f"mnist {base}".encode() for base in MNIST_FILES["test"]}
    mirror.mkdir()
    for base, data in fake_split.items():
        (mirror / base).write_bytes(data)
        monkeypatch.setitem(MNIST_SHA256, base, __import__("hashlib").sha256(data).hexdigest())
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert fetch.main(["--root", str(tmp_path / "d"), "--mirror", str(mirror)]) == 1
    assert err.getvalue().startswith("error: Fashion-MNIST train split not found") and err.getvalue().count("\n") == 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert fetch.main(["--root", str(tmp_path / "d"), "--mirror", str(mirror), "--no-fashion"]) == 0
    assert "Fashion" not in out.getvalue()
    fake_fashion(tmp_path / "debian", monkeypatch)
    monkeypatch.setattr(fetch, "DEBIAN_FASHION", str(tmp_path / "debian"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert fetch.main(["--root", str(tmp_path / "d"), "--mirror", str(mirror)]) == 0
    assert "Fashion-MNIST train split: " + str(tmp_path / "d" / "fashion-mnist") in out.getvalue()
