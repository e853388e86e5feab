"""Tests for redunet_book.rate: every fast path against the literal formulas (float64), autograd,
soft vs hard memberships, devices and dtypes, and bad input."""
import math

import pytest
import torch

from redunet_book.core import normalize
from redunet_book.rate import (class_coding_rate, class_samples, coding_length, coding_rate, literal_class_coding_rate,
                               literal_coding_rate, logdet_scaled_gram, rate_reduction, rate_terms)

SHAPES = [(40, 6, 3), (12, 30, 4), (25, 25, 5), (7, 3, 7), (200, 16, 10)]


def features(m, n, gen, dtype=torch.float64, device="cpu"):
    "Unit-norm random features (m, n)."
    return normalize(torch.randn(m, n, generator=gen, dtype=torch.float64)).to(dtype=dtype, device=device)


def labels(m, k, gen):
    "Random labels in [0, k) with every class present when m >= k."
    return (torch.arange(m) % k)[torch.randperm(m, generator=gen)]


def soft(m, k, gen, sharpness=2.0):
    "Random soft membership rows (m, k) on the simplex."
    return torch.softmax(sharpness * torch.randn(m, k, generator=gen, dtype=torch.float64), dim=1)


# ---------------------------------------------------------------- against the literal formulas

def test_literal_formulas_on_hand_computed_case():
    # two classes of m/2 copies of orthogonal unit vectors u, v in R^n (exercise 2 of the chapter)
    m, n, eps_sq = 10, 4, 0.3
    Z = torch.zeros(m, n, dtype=torch.float64)
    Z[: m // 2, 0] = 1
    Z[m // 2:, 1] = 1
    y = torch.tensor([0] * (m // 2) + [1] * (m // 2))
    R = math.log(1 + n / (2 * eps_sq))
    Rc = 0.5 * math.log(1 + n / eps_sq)
    t = rate_terms(Z, y, eps_sq)
    assert math.isclose(t.R.item(), R, rel_tol=1e-12)
    assert math.isclose(t.Rc.item(), Rc, rel_tol=1e-12)
    assert math.isclose(literal_coding_rate(Z, eps_sq).item(), R, rel_tol=1e-12)


def test_coding_length(gen):
    Z = features(30, 5, gen)
    torch.testing.assert_close(coding_length(Z, 0.5), 35 * literal_coding_rate(Z, 0.5))
    torch.testing.assert_close(coding_length(Z, 0.5, bits=True), coding_length(Z, 0.5) / math.log(2))


# ---------------------------------------------------------------- the fast paths, piece by piece

@pytest.mark.parametrize("s, n", [(5, 20), (20, 5), (9, 9)])
def test_sylvester_sides_agree(s, n, gen):
    X = torch.randn(3, s, n, generator=gen, dtype=torch.float64)
    alpha = torch.tensor([0.1, 1.0, 7.0], dtype=torch.float64)
    gram = logdet_scaled_gram(X, alpha, side="gram")
    cov = logdet_scaled_gram(X, alpha, side="cov")
    auto = logdet_scaled_gram(X, alpha)
    dense = torch.stack([torch.linalg.slogdet(torch.eye(n, dtype=torch.float64) + a * x.T @ x)[1]
                         for a, x in zip(alpha, X)])
    for value in (gram, cov, auto):
        torch.testing.assert_close(value, dense, rtol=1e-11, atol=1e-12)
    with pytest.raises(ValueError, match="side must be"):
        logdet_scaled_gram(X, alpha, side="left")


def test_class_samples_padding(gen):
    Z = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    Pi = torch.nn.functional.one_hot(torch.tensor([1, 0, 1, 1, 2, 2]), 4).double()
    X = class_samples(Z, Pi)
    assert X.shape == (4, 3, 3)                        # k=4 classes, largest support 3
    torch.testing.assert_close(X[1], Z[[0, 2, 3]])
    torch.testing.assert_close(X[0, 0], Z[1])
    assert (X[0, 1:] == 0).all() and (X[3] == 0).all()


def test_soft_membership_uses_square_roots(gen):
    Z = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    P = soft(5, 2, gen)
    X = class_samples(Z, P)
    for j in range(2):                                 # sum of outer products = Z^T diag(pi_j) Z
        torch.testing.assert_close(X[j].T @ X[j], Z.T @ torch.diag(P[:, j]) @ Z)


def test_soft_one_hot_equals_hard_labels(dtype, gen):
    Z = features(60, 8, gen, dtype)
    y = labels(60, 4, gen)
    hard = rate_terms(Z, y, 0.5)
    onehot = rate_terms(Z, torch.nn.functional.one_hot(y, 4).to(dtype), 0.5)
    for a, b in zip(hard, onehot):
        torch.testing.assert_close(a, b)


def test_uniform_soft_membership_reduces_nothing(gen):
    Z = features(30, 5, gen)
    half = torch.full((30, 3), 1 / 3, dtype=torch.float64)
    assert abs(rate_reduction(Z, half, 0.5).item()) < 1e-12


# ---------------------------------------------------------------- gradients

def test_gradient_matches_finite_differences(gen):
    Z = torch.randn(11, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    y = labels(11, 3, gen)
    assert torch.autograd.gradcheck(lambda Z: rate_reduction(Z, y, 0.4), (Z,))
    Zw = torch.randn(5, 9, generator=gen, dtype=torch.float64, requires_grad=True)   # Gram side
    yw = labels(5, 2, gen)
    assert torch.autograd.gradcheck(lambda Z: rate_reduction(Z, yw, 0.4), (Zw,))


def test_gradient_through_soft_membership(gen):
    Z = torch.randn(8, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(8, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    # perturb the memberships through a softmax, so finite differences stay on the simplex
    assert torch.autograd.gradcheck(lambda Z, L: rate_reduction(Z, torch.softmax(L, 1), 0.7), (Z, logits))


def test_autograd_matches_literal_gradient(gen):
    Z = features(20, 6, gen).requires_grad_()
    y = labels(20, 3, gen)
    g_fast, = torch.autograd.grad(rate_reduction(Z, y, 0.5), Z)
    Zl = Z.detach().clone().requires_grad_()
    Y = torch.nn.functional.one_hot(y, 3).double()
    g_lit, = torch.autograd.grad(literal_coding_rate(Zl, 0.5) - literal_class_coding_rate(Zl, Y, 0.5), Zl)
    torch.testing.assert_close(g_fast, g_lit, rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------- dtypes, devices, edge cases

def test_dtype_and_device_follow_input(dtype, device, gen):
    Z = features(50, 10, gen, dtype, device)
    y = labels(50, 5, gen).to(device)
    t = rate_terms(Z, y, 0.5)
    for v in t:
        assert v.dtype == dtype and v.device.type == device.type and v.ndim == 0
    ref = rate_terms(Z.double().cpu(), y.cpu(), 0.5)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    for a, b in zip(t, ref):
        torch.testing.assert_close(a.double().cpu(), b, **tol)


def test_labels_on_other_device_are_moved(gen):
    Z = features(10, 3, gen)
    assert torch.isfinite(rate_reduction(Z, labels(10, 2, gen), 0.5))


def test_empty_class_contributes_nothing(dtype, gen):
    Z = features(12, 5, gen, dtype)
    y = torch.tensor([0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 4])          # classes 1 and 3 empty
    y_compact = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2])
    terms = class_coding_rate(Z, y, 0.5, num_classes=6, reduction="none")
    assert terms.shape == (6,) and torch.isfinite(terms).all()
    assert terms[1] == 0 and terms[3] == 0 and terms[5] == 0
    torch.testing.assert_close(rate_reduction(Z, y, 0.5, num_classes=6), rate_reduction(Z, y_compact, 0.5))
    # gradients stay finite with empty classes
    Zg = Z.clone().requires_grad_()
    rate_reduction(Zg, y, 0.5, num_classes=6).backward()
    assert torch.isfinite(Zg.grad).all()


def test_soft_membership_with_empty_column(gen):
    Z = features(6, 3, gen)
    P = torch.zeros(6, 3, dtype=torch.float64)
    P[:, 0] = 0.3
    P[:, 2] = 0.7                                      # column 1 is all zero
    torch.testing.assert_close(class_coding_rate(Z, P, 0.5), literal_class_coding_rate(Z, P, 0.5))


@pytest.mark.parametrize("eps_sq", [1e-8, 1e-4, 1.0])
def test_rank_deficient_features_finite_in_float32(eps_sq):
    Z = torch.zeros(300, 64)
    Z[:, 0] = 1.0                                      # 300 copies of one unit vector: rank 1
    y = torch.arange(300) % 10
    t = rate_terms(Z, y, eps_sq)
    assert all(torch.isfinite(v) for v in t)
    Zg = Z.clone().requires_grad_()
    rate_reduction(Zg, y, eps_sq).backward()
    assert torch.isfinite(Zg.grad).all()
    assert rate_terms(torch.zeros(5, 3), torch.tensor([0, 0, 1, 1, 1]), 0.5).delta == 0


def test_reduction_argument(gen):
    Z = features(9, 3, gen)
    y = labels(9, 3, gen)
    terms = class_coding_rate(Z, y, 0.5, reduction="none")
    torch.testing.assert_close(terms.sum(), class_coding_rate(Z, y, 0.5))
    with pytest.raises(ValueError, match="reduction must be"):
        class_coding_rate(Z, y, 0.5, reduction="mean")


# ---------------------------------------------------------------- bad input

Z0 = torch.randn(6, 4)
Y0 = torch.tensor([0, 0, 1, 1, 2, 2])


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: coding_rate(Z0[0], 0.5), ValueError, "Z must have 2 dimensions"),
    (lambda: coding_rate(Z0[None], 0.5), ValueError, "Z must have 2 dimensions"),
    (lambda: coding_rate(Z0.numpy(), 0.5), TypeError, "Z must be a torch.Tensor"),
    (lambda: coding_rate(Z0.long(), 0.5), TypeError, "Z must have dtype float32 or float64"),
    (lambda: coding_rate(torch.full((3, 2), math.nan), 0.5), ValueError, "Z contains NaN or Inf"),
    (lambda: rate_reduction(torch.full((6, 4), math.inf), Y0, 0.5), ValueError, "Z contains NaN or Inf"),
    (lambda: coding_rate(torch.zeros(0, 4), 0.5), ValueError, "at least 1 sample"),
    (lambda: coding_rate(Z0, 0.0), ValueError, "eps_sq must be a finite number > 0"),
    (lambda: coding_rate(Z0, -0.5), ValueError, "eps_sq"),
    (lambda: rate_reduction(Z0, Y0, math.nan), ValueError, "eps_sq"),
    (lambda: rate_reduction(Z0, Y0, "0.5"), TypeError, "eps_sq must be a real number"),
    (lambda: coding_length(Z0, math.inf), ValueError, "eps_sq"),
    (lambda: rate_reduction(Z0, Y0[:5], 0.5), ValueError, "membership has 5 rows but the features have 6"),
    (lambda: rate_reduction(Z0, Y0, 0.5, num_classes=2), ValueError, r"membership must lie in \[0, num_classes=2\)"),
    (lambda: rate_reduction(Z0, Y0 - 1, 0.5), ValueError, "membership must be >= 0"),
    (lambda: rate_reduction(Z0, Y0.float(), 0.5), TypeError, "integer dtype"),
    (lambda: rate_reduction(Z0, Y0.tolist(), 0.5), TypeError, "membership must be a torch.Tensor"),
    (lambda: class_coding_rate(Z0, torch.full((6, 2), 0.6), 0.5), ValueError, "simplex"),
    (lambda: class_coding_rate(Z0, torch.tensor([[1.5, -0.5]] * 6), 0.5), ValueError, "negative entry"),
    (lambda: class_coding_rate(Z0, torch.full((6, 2), math.nan), 0.5), ValueError, "membership contains NaN"),
    (lambda: class_coding_rate(Z0, torch.full((6, 2), 0.5), 0.5, num_classes=3), ValueError, "num_classes=3"),
])
def test_bad_input(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


# ---------------------------------------------------------------- under torch.compile

@pytest.mark.parametrize("kind", ["labels", "soft"])
def test_rate_reduction_has_no_graph_break_and_matches_eager(kind, gen):
    "Issue 14: torch._dynamo.explain reports no graph break in rate_reduction; compiled value and gradient equal eager."
    import torch._dynamo as dynamo
    Z = features(60, 8, gen)
    membership = labels(60, 4, gen) if kind == "labels" else soft(60, 4, gen)
    kw = dict(num_classes=4) if kind == "labels" else {}

    def loss(Z, membership):
        return rate_reduction(Z, membership, 0.5, **kw)
    explanation = dynamo.explain(loss)(Z, membership)
    assert explanation.graph_break_count == 0, [b.reason for b in explanation.break_reasons]
    dynamo.reset()
    compiled = torch.compile(loss, backend="eager", fullgraph=True)
    Zc, Ze = Z.clone().requires_grad_(), Z.clone().requires_grad_()
    value, expected = compiled(Zc, membership), loss(Ze, membership)
    value.backward()
    expected.backward()
    torch.testing.assert_close(value, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(Zc.grad, Ze.grad, rtol=1e-10, atol=1e-12)


def test_compiled_labels_need_num_classes(gen):
    Z, y = features(20, 4, gen), labels(20, 2, gen)
    torch._dynamo.reset()
    with pytest.raises(Exception, match="num_classes"):
        torch.compile(lambda Z, y: rate_reduction(Z, y, 0.5), backend="eager", fullgraph=True)(Z, y)
