"""Tests for redunet_book.core: validation, memberships, normalisation, seeds, scale switch."""
import math

import numpy as np
import pytest
import torch

from redunet_book.core import (by_scale, check_eps_sq, check_features, complex_dtype, get_scale, make_generator,
                               membership_matrix, normalize, resolve_device, simplex_tolerance)


@pytest.mark.parametrize("bad, exc, msg", [
    ([[1.0, 2.0]], TypeError, "Z must be a torch.Tensor"),
    (torch.ones(3, 2, dtype=torch.int32), TypeError, "float32 or float64"),
    (torch.ones(3, 2, dtype=torch.float16), TypeError, "float32 or float64"),
    (torch.ones(3), ValueError, "2 dimensions"),
    (torch.ones(2, 3, 4), ValueError, "2 dimensions"),
    (torch.ones(0, 3), ValueError, "at least 1 sample"),
    (torch.tensor([[1.0, math.inf]]), ValueError, "NaN or Inf"),
    (torch.tensor([[1.0, math.nan]]), ValueError, "NaN or Inf"),
])
def test_check_features_rejects(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        check_features(bad)


def test_check_features_accepts_and_names():
    Z = torch.randn(4, 3, dtype=torch.float64)
    assert check_features(Z) is Z
    with pytest.raises(ValueError, match="^X must have"):
        check_features(torch.ones(3), name="X")
    assert check_features(torch.ones(2, 3, 4), ndim=(3, 4)).shape == (2, 3, 4)


@pytest.mark.parametrize("value", [0, 0.0, -1.0, math.inf, math.nan])
def test_check_eps_sq_rejects_values(value):
    with pytest.raises(ValueError, match="eps_sq"):
        check_eps_sq(value)


@pytest.mark.parametrize("value", ["0.5", None, True, torch.ones(2)])
def test_check_eps_sq_rejects_types(value):
    with pytest.raises(TypeError, match="eps_sq"):
        check_eps_sq(value)


def test_check_eps_sq_accepts_numbers():
    assert check_eps_sq(1) == 1.0
    assert check_eps_sq(np.float32(0.25)) == 0.25
    assert check_eps_sq(torch.tensor(0.5)) == 0.5


def test_membership_labels_and_soft_agree():
    y = torch.tensor([2, 0, 1, 1])
    Pi = membership_matrix(y, 4, dtype=torch.float64)
    assert torch.equal(Pi, torch.nn.functional.one_hot(y, 3).double())
    assert torch.equal(membership_matrix(Pi, 4, dtype=torch.float64), Pi)
    assert membership_matrix(y, 4, num_classes=6).shape == (4, 6)


def test_membership_follows_dtype_and_device(device):
    Pi = membership_matrix(torch.tensor([0, 1]), 2, dtype=torch.float64, device=device)
    assert Pi.dtype == torch.float64 and Pi.device.type == device.type


@pytest.mark.parametrize("membership, kwargs, exc, msg", [
    ([0, 1, 1], {}, TypeError, "membership must be a torch.Tensor"),
    (torch.tensor([0, 1]), {}, ValueError, "membership has 2 rows but the features have 3"),
    (torch.tensor([0, 1, 3]), dict(num_classes=3), ValueError, r"\[0, num_classes=3\)"),
    (torch.tensor([0, -1, 1]), {}, ValueError, ">= 0"),
    (torch.tensor([0.0, 1.0, 1.0]), {}, TypeError, "integer dtype"),
    (torch.tensor([True, False, True]), {}, TypeError, "integer dtype"),
    (torch.tensor([0, 1, 1]), dict(num_classes=0), ValueError, "num_classes must be >= 1"),
    (torch.tensor([0, 1, 1]), dict(num_classes=2.0), TypeError, "num_classes must be an int"),
    (torch.ones(3, 2, 1), {}, ValueError, "labels of shape"),
    (torch.full((3, 2), 0.7), {}, ValueError, "simplex"),
    (torch.tensor([[1.2, -0.2]] * 3), {}, ValueError, "negative entry"),
    (torch.tensor([[0.5, math.nan]] * 3), {}, ValueError, "NaN or Inf"),
    (torch.ones(3, 2, dtype=torch.int64), {}, TypeError, "float dtype"),
    (torch.full((3, 2), 0.5), dict(num_classes=3), ValueError, "num_classes=3"),
])
def test_membership_rejects(membership, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        membership_matrix(membership, 3, **kwargs)


def test_membership_tolerance_is_dtype_aware():
    assert simplex_tolerance(torch.float32) > simplex_tolerance(torch.float64)
    nearly = torch.full((2, 3), 1 / 3, dtype=torch.float32)     # rows sum to 1 up to float32 rounding
    assert membership_matrix(nearly, 2).shape == (2, 3)


def test_normalize(dtype):
    Z = torch.randn(5, 3, 4, dtype=dtype)
    U = normalize(Z)
    assert U.dtype == dtype
    torch.testing.assert_close(U.flatten(1).norm(dim=1), torch.ones(5, dtype=dtype))
    torch.testing.assert_close(normalize(3 * Z), U)
    with pytest.raises(ValueError, match="zero sample"):
        normalize(torch.zeros(2, 3, dtype=dtype))
    assert normalize(torch.zeros(0, 3, dtype=dtype)).shape == (0, 3)


def test_generators_and_devices():
    assert torch.equal(torch.rand(3, generator=make_generator(5)), torch.rand(3, generator=make_generator(5)))
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device().type in ("cpu", "cuda")
    assert complex_dtype(torch.float32) == torch.complex64
    with pytest.raises(TypeError, match="float32 or float64"):
        complex_dtype(torch.int64)


def test_scale_switch(monkeypatch):
    monkeypatch.delenv("REDUNET_BOOK_SCALE", raising=False)
    assert get_scale() == "book" and by_scale(1, 2) == 1
    monkeypatch.setenv("REDUNET_BOOK_SCALE", "paper")
    assert get_scale() == "paper" and by_scale(1, 2) == 2
    assert get_scale("book") == "book"
    monkeypatch.setenv("REDUNET_BOOK_SCALE", "huge")
    with pytest.raises(ValueError, match="REDUNET_BOOK_SCALE must be one of"):
        get_scale()


@pytest.mark.parametrize("scale", [1e20, 1e30, 1e-25, 1e-40])
def test_normalize_neither_overflows_nor_underflows_in_float32(scale):
    "The squares of 1e20 overflow and those of 1e-25 underflow in float32; the direction must not care."
    Z = torch.tensor([[3.0, 4.0], [1.0, 0.0], [-2.0, 2.0]]) * scale
    expected = torch.tensor([[0.6, 0.8], [1.0, 0.0], [-0.5 ** 0.5, 0.5 ** 0.5]])
    torch.testing.assert_close(normalize(Z), expected)
    torch.testing.assert_close(normalize(Z.reshape(3, 1, 2)), expected.reshape(3, 1, 2))


def test_normalize_matches_the_literal_definition_and_its_gradient():
    Z = torch.randn(5, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    literal = Z / Z.flatten(1).norm(dim=1).reshape(-1, 1, 1)
    torch.testing.assert_close(normalize(Z), literal)
    torch.autograd.gradcheck(normalize, (Z,))
    g = torch.randn_like(literal)
    torch.testing.assert_close(torch.autograd.grad(normalize(Z), Z, g)[0], torch.autograd.grad(literal, Z, g)[0])


def test_check_features_zero_dim_is_a_value_error():
    with pytest.raises(ValueError, match="0-d tensor"):
        check_features(torch.tensor(1.0), ndim=None)
    with pytest.raises(ValueError, match="0-d tensor"):
        normalize(torch.tensor(2.0))
