"""Shared fixtures: dtypes, devices and seeded generators (DESIGN.md §8, practice 7)."""
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
