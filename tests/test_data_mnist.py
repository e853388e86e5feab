"""Tests for the MNIST reader, the balanced split and the image transforms of redunet_book.data."""
import gzip
import math
from pathlib import Path

import pytest
import torch

from redunet_book import fetch
from redunet_book.data import (balanced_split, cyclic_translations, load_mnist, mnist_sets, parse_idx, polar_grid,
                               polar_resample, rotate_images)
from redunet_book.fetch import MNIST_SHA256, find_mnist, mnist_folders, sha256_file

# The MNIST test split as `make data` provisioned it ($REDUNET_DATA, else the user cache folder).
FOUND = find_mnist("test")


def idx_bytes(array: torch.Tensor, code: int = 0x08) -> bytes:
    "Encode a tensor as an IDX file (big-endian)."
    head = bytes([0, 0, code, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    a = array.numpy()
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_split(folder: Path, images, labels, compress: bool, prefix: str = "t10k"):
    folder.mkdir(parents=True, exist_ok=True)
    for base, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        raw = idx_bytes(arr)
        if compress:
            (folder / (base + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / base).write_bytes(raw)


@pytest.fixture
def fake_split(gen):
    images = torch.randint(0, 256, (30, 28, 28), generator=gen, dtype=torch.uint8)
    labels = torch.arange(30, dtype=torch.uint8) % 10
    return images, labels


@pytest.mark.parametrize("code,dtype", [(0x08, torch.uint8), (0x09, torch.int8), (0x0B, torch.int16),
                                        (0x0C, torch.int32), (0x0D, torch.float32), (0x0E, torch.float64)])
def test_parse_idx_dtypes_and_endianness(code, dtype, gen):
    x = (torch.randn(3, 4, 5, generator=gen) * 50).to(dtype)
    raw = idx_bytes(x, code)
    for blob in (raw, gzip.compress(raw)):
        y = parse_idx(blob)
        assert y.dtype == dtype and torch.equal(y, x)


def test_parse_idx_errors():
    x = torch.arange(12, dtype=torch.uint8).reshape(3, 4)
    raw = idx_bytes(x)
    with pytest.raises(ValueError, match="bad magic"):
        parse_idx(b"\x01" + raw[1:])
    with pytest.raises(ValueError, match="bad magic"):
        parse_idx(raw[:2] + b"\x07" + raw[3:])
    with pytest.raises(ValueError, match="bad magic"):
        parse_idx(b"")
    with pytest.raises(ValueError, match="f.idx: truncated header"):
        parse_idx(raw[:6], "f.idx")
    with pytest.raises(ValueError, match="truncated"):
        parse_idx(raw[:-1])
    with pytest.raises(ValueError, match="trailing bytes"):
        parse_idx(raw + b"\x00")
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        parse_idx(gzip.compress(raw)[:-5])


@pytest.mark.parametrize("compress", [True, False])
def test_load_mnist_from_synthetic_files(tmp_path, fake_split, compress):
    images, labels = fake_split
    write_split(tmp_path, images, labels, compress)
    with pytest.raises(ValueError, match="SHA-256 checksum mismatch"):
        load_mnist(tmp_path)
    X, y = load_mnist(tmp_path, verify=False)
    assert X.dtype == torch.uint8 and X.shape == (30, 28, 28) and torch.equal(X, images)
    assert y.dtype == torch.int64 and torch.equal(y, labels.long())


def test_load_mnist_checksum_accepted_when_it_matches(tmp_path, fake_split, monkeypatch):
    images, labels = fake_split
    write_split(tmp_path, images, labels, compress=True)
    digests = {f"t10k-{k}-idx{d}-ubyte.gz": sha256_file(tmp_path / f"t10k-{k}-idx{d}-ubyte.gz")
               for k, d in (("images", 3), ("labels", 1))}
    monkeypatch.setitem(MNIST_SHA256, "t10k-images-idx3-ubyte.gz", digests["t10k-images-idx3-ubyte.gz"])
    monkeypatch.setitem(MNIST_SHA256, "t10k-labels-idx1-ubyte.gz", digests["t10k-labels-idx1-ubyte.gz"])
    X, y = load_mnist(tmp_path)
    assert torch.equal(X, images)


def test_load_mnist_folder_resolution(tmp_path, fake_split, monkeypatch):
    images, labels = fake_split
    write_split(tmp_path / "mnist", images, labels, compress=False)     # a data folder holding mnist/
    monkeypatch.setenv("REDUNET_DATA", str(tmp_path))
    assert mnist_folders()[:2] == [tmp_path, tmp_path / "mnist"]
    X, _ = load_mnist(verify=False)
    assert torch.equal(X, images)
    assert mnist_folders(tmp_path / "elsewhere")[0] == tmp_path / "elsewhere"     # argument beats the variable
    monkeypatch.delenv("REDUNET_DATA")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert mnist_folders()[0] == Path.home() / ".cache" / "redunet_book" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert mnist_folders() == [tmp_path / "cache" / "redunet_book" / "mnist", tmp_path / "cache" / "redunet_book" / "mnist" / "mnist"]


def test_load_mnist_errors(tmp_path, fake_split):
    with pytest.raises(FileNotFoundError, match="REDUNET_DATA"):
        load_mnist(tmp_path / "nothing")
    with pytest.raises(ValueError, match="split must be"):
        load_mnist(tmp_path, split="validation")
    images, labels = fake_split
    write_split(tmp_path, images, labels[:-1], compress=True)
    with pytest.raises(ValueError, match="expected 30 uint8 labels"):
        load_mnist(tmp_path, verify=False)
    write_split(tmp_path, images, labels + 5, compress=True)
    with pytest.raises(ValueError, match="0..9"):
        load_mnist(tmp_path, verify=False)


def test_download_is_not_attempted_without_flag(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("no network access expected")
    monkeypatch.setattr(fetch.urllib.request, "urlopen", boom)
    with pytest.raises(FileNotFoundError):
        load_mnist(tmp_path)


def test_download_verifies_checksum(tmp_path, monkeypatch):
    import io

    class Resp(io.BytesIO):
        def __enter__(self): return self
        def __exit__(self, *a): self.close()

    monkeypatch.setattr(fetch.urllib.request, "urlopen", lambda url, timeout: Resp(b"not mnist"))
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        fetch.download_mnist(tmp_path, "test", mirrors=("https://mirror.invalid/",))
    assert list(tmp_path.iterdir()) == []                      # nothing half-written is left behind


@pytest.mark.skipif(FOUND is None, reason="the MNIST test split is not provisioned: run `make data`")
def test_real_mnist_test_split():
    for f in FOUND:
        assert sha256_file(f) == MNIST_SHA256[f.name]
    X, y = load_mnist(FOUND[0].parent)
    assert X.shape == (10000, 28, 28) and X.dtype == torch.uint8 and y.shape == (10000,)
    assert torch.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert int(y[0]) == 7 and int(X.max()) == 255 and int(X.min()) == 0      # the famous first test digit is a 7


def test_balanced_split():
    labels = torch.arange(10).repeat_interleave(torch.tensor([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]))
    tr, te = balanced_split(labels, 2, 3, seed=4)
    assert tr.dtype == te.dtype == torch.int64
    assert torch.bincount(labels[tr]).tolist() == [2] * 10 and torch.bincount(labels[te]).tolist() == [3] * 10
    assert not set(tr.tolist()) & set(te.tolist())
    assert torch.equal(tr, balanced_split(labels, 2, 3, seed=4)[0])
    tr, rest = balanced_split(labels, 2, None, seed=4)
    assert sorted(tr.tolist() + rest.tolist()) == list(range(len(labels)))
    with pytest.raises(ValueError, match="class 0 has 5 samples"):
        balanced_split(labels, 3, 3)
    with pytest.raises(ValueError, match="class 10 has 0 samples"):
        balanced_split(labels, 1, 1, num_classes=11)
    with pytest.raises(TypeError, match="train_per_class"):
        balanced_split(labels, 1.5)
    with pytest.raises(TypeError, match="labels"):
        balanced_split(labels.float(), 1)


def test_polar_grid_geometry():
    g = polar_grid(8, 4, 29, 29, dtype=torch.float64)
    assert g.shape == (4, 8, 2)
    pix = (g + 1) * 14                                                   # back to pixel (column, row) coordinates
    r = ((pix[..., 0] - 14) ** 2 + (pix[..., 1] - 14) ** 2).sqrt()
    torch.testing.assert_close(r, torch.tensor([3.5, 7, 10.5, 14], dtype=torch.float64)[:, None].expand(4, 8))
    ang = torch.atan2(14 - pix[..., 1], pix[..., 0] - 14) % (2 * math.pi)    # y up
    torch.testing.assert_close(ang[0], torch.arange(8, dtype=torch.float64) * math.pi / 4, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="num_angles"):
        polar_grid(0, 3, 28, 28)


def test_polar_resample_is_bilinear_against_a_literal_loop(gen):
    x = torch.rand(2, 9, 7, generator=gen, dtype=torch.float64)
    P = polar_resample(x, 6, 3, radius=2.7)
    g = polar_grid(6, 3, 9, 7, radius=2.7, dtype=torch.float64)
    for i in range(3):
        for a in range(6):
            c, r = (g[i, a, 0] + 1) * 3, (g[i, a, 1] + 1) * 4                # column, row in pixels
            c0, r0 = int(c.floor()), int(r.floor())
            dc, dr = float(c - c0), float(r - r0)
            val = ((1 - dr) * (1 - dc) * x[:, r0, c0] + (1 - dr) * dc * x[:, r0, c0 + 1]
                   + dr * (1 - dc) * x[:, r0 + 1, c0] + dr * dc * x[:, r0 + 1, c0 + 1])
            torch.testing.assert_close(P[:, i, a], val)


@pytest.mark.parametrize("G", [4, 8, 20, 200])
def test_rotation_by_90_is_an_exact_cyclic_shift(G, gen, dtype):
    x = torch.rand(3, 2, 28, 28, generator=gen, dtype=dtype)             # with a channel axis
    P = polar_resample(x, G, 15)
    assert P.shape == (3, 2, 15, G) and P.dtype == dtype
    atol = 1e-5 if dtype == torch.float32 else 1e-12
    for s in (1, 2, 3):
        Ps = polar_resample(torch.rot90(x, s, dims=(-2, -1)), G, 15)
        torch.testing.assert_close(Ps, torch.roll(P, s * G // 4, dims=-1), rtol=0, atol=atol)
        torch.testing.assert_close(rotate_images(x, 90 * s), torch.rot90(x, s, (-2, -1)), rtol=0, atol=atol)


def test_small_rotation_is_a_shift_up_to_interpolation(gen):
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    c = torch.rand(4, 3, 2, generator=gen) * 14 + 7                        # smooth images: 3 Gaussian bumps each
    x = torch.exp(-((yy - c[..., :1, None]) ** 2 + (xx - c[..., 1:, None]) ** 2) / 18).sum(1).double()
    P = polar_resample(x, 20, 10, radius=12)
    P1 = polar_resample(rotate_images(x, 18), 20, 10, radius=12)                # the paper's 18° step, Γ = 20
    assert (P1 - torch.roll(P, 1, -1)).norm() < 0.1 * (P1 - P).norm()           # counter-clockwise: shift by +1
    assert (P1 - torch.roll(P, -1, -1)).norm() > (P1 - P).norm()


def test_polar_resample_device_and_errors(device):
    x = torch.randint(0, 256, (2, 28, 28), dtype=torch.uint8, device=device)
    P = polar_resample(x, 8, 4)
    assert P.device.type == device.type and P.dtype == torch.float32
    with pytest.raises(ValueError, match="images must have shape"):
        polar_resample(x[0, 0], 8, 4)
    with pytest.raises(TypeError, match="dtype"):
        polar_resample(x, 8, 4, dtype=torch.int32)


def test_cyclic_translations(gen):
    x = torch.randint(0, 256, (3, 28, 28), generator=gen, dtype=torch.uint8)
    T = cyclic_translations(x, 7)
    assert T.shape == (3, 16, 28, 28) and T.dtype == torch.uint8
    shifts = [(a, b) for a in range(0, 28, 7) for b in range(0, 28, 7)]
    for t, (a, b) in enumerate(shifts):
        for i in range(0, 28, 5):
            for j in range(0, 28, 5):
                assert torch.equal(T[:, t, (i + a) % 28, (j + b) % 28], x[:, i, j])
    assert cyclic_translations(x, 5).shape[1] == 36                     # ⌈28/5⌉² = 36
    assert cyclic_translations(x[:, None], 14).shape == (3, 4, 1, 28, 28)
    with pytest.raises(ValueError, match="stride"):
        cyclic_translations(x, 0)
    with pytest.raises(ValueError, match="images must have shape"):
        cyclic_translations(x[0, 0], 7)


def test_mnist_sets_protocols(tmp_path, fake_split):
    images, labels = fake_split                                     # 30 images, 3 per class
    write_split(tmp_path, images, labels, compress=False)
    sets = mnist_sets(1, 1, seed=3, split="auto", root=tmp_path, verify=False)
    assert sets.protocol == "test" and "test split only" in sets.description
    train_ids = {tuple(x.flatten().tolist()) for x in sets.train_images}
    assert not train_ids & {tuple(x.flatten().tolist()) for x in sets.test_images}        # disjoint
    with pytest.raises(FileNotFoundError, match="train split"):
        mnist_sets(1, 1, split="official", root=tmp_path, verify=False)
    train_images = torch.zeros(20, 28, 28, dtype=torch.uint8) + torch.arange(20, dtype=torch.uint8)[:, None, None]
    write_split(tmp_path, train_images, torch.arange(20, dtype=torch.uint8) % 10, compress=True, prefix="train")
    sets = mnist_sets(2, None, seed=3, split="auto", root=tmp_path, verify=False)
    assert sets.protocol == "official" and "official splits" in sets.description
    assert torch.bincount(sets.train_labels).tolist() == [2] * 10 and torch.equal(sets.test_images, images)
    assert (sets.train_images[:, 0, 0].long() % 10 == sets.train_labels).all()   # images travel with their labels
    assert mnist_sets(1, 1, split="test", root=tmp_path, verify=False).protocol == "test"   # forced
    with pytest.raises(ValueError, match="split must be one of"):
        mnist_sets(1, split="both", root=tmp_path)


@pytest.mark.skipif(find_mnist("test", dataset="fashion-mnist") is None or find_mnist("train", dataset="fashion-mnist") is None,
                    reason="Fashion-MNIST is not provisioned: run `make data`")
def test_real_fashion_mnist_and_its_official_split():
    X, y = load_mnist(split="test", dataset="fashion-mnist")
    assert X.shape == (10000, 28, 28) and torch.equal(torch.bincount(y), torch.full((10,), 1000))
    Xtr, ytr = load_mnist(split="train", dataset="fashion-mnist")
    assert Xtr.shape == (60000, 28, 28) and torch.equal(torch.bincount(ytr), torch.full((10,), 6000))
    assert not torch.equal(X[:100], load_mnist(split="test")[0][:100])        # not MNIST's digits
    sets = mnist_sets(5, 3, seed=1, dataset="fashion-mnist")
    assert sets.protocol == "official" and sets.description.startswith("Fashion-MNIST official splits")
    with pytest.raises(ValueError, match="dataset"):
        mnist_sets(5, 3, dataset="fashion")
