"""Shared fixtures: dtypes, devices and seeded generators (DESIGN.md §8, practice 7)."""
import gzip
from pathlib import Path

import pytest
import torch


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    "Each floating dtype the library supports."
    return request.param


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    "CPU, and CUDA (reported as skipped where no GPU is available)."
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available on this machine")
    return torch.device(request.param)


@pytest.fixture
def gen():
    "A freshly seeded CPU generator."
    return torch.Generator().manual_seed(1234)


def write_fake_mnist(folder: Path, per_class: int = 4, seed: int = 0) -> None:
    "Synthetic t10k IDX files: each class a noisy copy of its own random template."
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(10, 28, 28, generator=g)
    labels = torch.arange(10).repeat(per_class)
    images = (templates[labels] * 200 + torch.rand(len(labels), 28, 28, generator=g) * 55).to(torch.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in (("t10k-images-idx3-ubyte.gz", images), ("t10k-labels-idx1-ubyte.gz", labels.to(torch.uint8))):
        head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
        (folder / name).write_bytes(gzip.compress(head + arr.numpy().tobytes()))


@pytest.fixture(scope="session")
def playwright():
    "The session's one Playwright (sync API): a second `sync_playwright()` while one runs in the same thread fails."
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python package) is not installed")
    with sync_api.sync_playwright() as pw:
        yield pw
