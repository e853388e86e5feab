"""Tests for redunet_book.gram, the one kernel for I + αXᴴX: every product against the literal dense formulas
(real and complex, both sides, float32 and float64), each stage of the failure policy forced in turn, gradients
through every path, and the errors for a scale or a Gram matrix that overflows the dtype."""
import math

import pytest
import torch

from redunet_book import gram
from redunet_book.gram import (SIDES, apply_operator, apply_rows, check_alpha, factor, factor_matrix, literal_logdet,
                               literal_operator, logdet, operator, solve, whiten, woodbury_dense)
from redunet_book.operators import expansion_operator
from redunet_book.rate import coding_rate, rate_reduction
from redunet_book.spectral import scaled_inverse

SHAPES = [(3, 7), (9, 4), (5, 5), (1, 3)]
DTYPES = [torch.float64, torch.complex128, torch.float32, torch.complex64]


def rows(gen, s, n, dtype, batch=(2,)):
    "Random rows `(*batch, s, n)` in `dtype` (drawn in double precision, so every dtype sees the same numbers)."
    wide = torch.complex128 if dtype.is_complex else torch.float64
    return torch.randn(*batch, s, n, generator=gen, dtype=wide).to(dtype)


def tol(dtype):
    "Comparison tolerance for `dtype`'s precision."
    return dict(rtol=1e-10, atol=1e-10) if dtype in (torch.float64, torch.complex128) else dict(rtol=2e-4, atol=2e-5)


def wide(t):
    "`t` in double precision, for the literal reference."
    return t.to(torch.complex128 if t.is_complex() else torch.float64)


class CholeskyFails:
    "Make the first `times` calls of torch.linalg.cholesky_ex report failure (the status only; the factor is left as is)."
    def __init__(self, monkeypatch, times):
        self.left, self.real = times, torch.linalg.cholesky_ex
        monkeypatch.setattr(torch.linalg, "cholesky_ex", self)

    def __call__(self, M):
        L, info = self.real(M)
        if self.left > 0:
            self.left -= 1
            return L, torch.ones_like(info)
        return L, info


@pytest.mark.parametrize("s, n", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("side", SIDES)
def test_products_match_literal(gen, s, n, dtype, side):
    X = rows(gen, s, n, dtype)
    real = X.real.dtype if X.is_complex() else X.dtype
    alpha = torch.tensor([0.7, 3.0], dtype=real)
    f = factor(X, alpha, side)
    ref = literal_operator(wide(X), alpha.double())
    V = rows(gen, 4, n, dtype)
    assert f.gram == ((s < n) if side == "auto" else side == "gram")
    torch.testing.assert_close(wide(logdet(f)), literal_logdet(wide(X), alpha.double()), **tol(dtype))
    torch.testing.assert_close(wide(operator(f)), ref, **tol(dtype))
    torch.testing.assert_close(wide(apply_rows(f)), wide(X) @ ref, **tol(dtype))
    torch.testing.assert_close(wide(apply_operator(operator(f, lowrank=True), alpha, V)), wide(V) @ ref.mT, **tol(dtype))
    M = torch.eye(f.L.shape[-1], dtype=wide(X).dtype) + alpha.double()[:, None, None] * (
        wide(X) @ wide(X).mH if f.gram else wide(X).mH @ wide(X))
    B = rows(gen, M.shape[-1], 2, dtype)
    torch.testing.assert_close(wide(solve(f, B)), torch.linalg.solve(M, wide(B)), **tol(dtype))
    S = wide(whiten(f, torch.eye(M.shape[-1], dtype=dtype).expand(2, -1, -1)))
    torch.testing.assert_close(S.mH @ S, torch.linalg.inv(M), **tol(dtype))
    for out in (logdet(f), operator(f), apply_rows(f)):
        assert out.dtype in (X.dtype, real)


def test_woodbury_factor_only_when_it_is_smaller(gen):
    for s, n in [(3, 7), (5, 5), (9, 4)]:
        X = rows(gen, s, n, torch.float64)
        W = operator(factor(X, 1.0, "gram"), lowrank=True)
        assert W.shape[-2:] == ((s, n) if s < n else (n, n))    # a square W would read as a dense operator
        torch.testing.assert_close(woodbury_dense(W, torch.ones(2, dtype=torch.float64)) if s < n else W,
                                   literal_operator(X, 1.0))


def test_zero_alpha_is_the_zero_operator(gen):
    X = rows(gen, 4, 6, torch.float64)
    for side in ("gram", "cov"):
        f = factor(X, 0.0, side)
        assert (operator(f) == 0).all() and (logdet(f) == 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64], ids=str)
@pytest.mark.parametrize("side", ["gram", "cov"])
def test_failure_policy_retry_in_double(gen, monkeypatch, dtype, side):
    X = rows(gen, 3, 5, dtype)
    fails = CholeskyFails(monkeypatch, 1)
    f = factor(X, 0.5, side)
    assert fails.left == 0 and f.L is not None and f.L.dtype == (torch.complex128 if dtype.is_complex else torch.float64)
    assert logdet(f).dtype == X.real.dtype and operator(f).dtype == dtype     # results come back in the working dtype
    torch.testing.assert_close(wide(operator(f)), literal_operator(wide(X), 0.5), **tol(dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.complex128], ids=str)
@pytest.mark.parametrize("side", ["gram", "cov"])
def test_failure_policy_eigen_fallback(gen, monkeypatch, dtype, side):
    X = rows(gen, 3, 5, dtype)
    CholeskyFails(monkeypatch, 2)
    f = factor(X, 0.5, side)
    assert f.L is None and f.lam is not None and (f.lam >= 0).all()
    ref = literal_operator(wide(X), 0.5)
    torch.testing.assert_close(wide(logdet(f)), literal_logdet(wide(X), 0.5), **tol(dtype))
    torch.testing.assert_close(wide(operator(f)), ref, **tol(dtype))
    torch.testing.assert_close(wide(apply_rows(f)), wide(X) @ ref, **tol(dtype))
    if side == "gram":
        torch.testing.assert_close(wide(woodbury_dense(operator(f, lowrank=True), torch.tensor(0.5, dtype=torch.float64))), ref,
                                   **tol(dtype))


def test_eigen_fallback_clamps_a_rounding_negative_eigenvalue():
    Q = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).Q
    G = Q @ torch.diag(torch.tensor([2.0, 1.0, 0.5, -1e-6], dtype=torch.float64)) @ Q.T
    f = factor_matrix(G, 1e7)                                   # 1 + αλ < 0: no Cholesky factor in any precision
    assert f.L is None
    torch.testing.assert_close(logdet(f), torch.log1p(1e7 * torch.tensor([2.0, 1.0, 0.5, 0.0], dtype=torch.float64)).sum())


def test_natural_float32_failure_is_recovered_in_float64():
    Z = torch.ones(200, 8) + 1e-4 * torch.randn(200, 8, generator=torch.Generator().manual_seed(1))
    Z = Z / Z.norm(dim=1, keepdim=True)
    assert torch.linalg.cholesky_ex(torch.eye(8) + 1e9 * Z.T @ Z).info != 0
    f = factor(Z, 1e9, "cov")
    assert f.L is not None and f.L.dtype == torch.float64
    ref = literal_logdet(Z.double(), 1e9)
    assert abs(float(logdet(f)) - float(ref)) < 1e-4 * abs(float(ref))


def test_no_recursion_and_clear_errors_on_overflow():
    "The defects of issue 14: RecursionError / eigh non-convergence / NaN before; a ValueError naming Z or eps_sq now."
    huge64 = torch.full((5, 4), 1e160, dtype=torch.float64)
    with pytest.raises(ValueError, match="entries of Z are too large"):
        factor(huge64, 1.0)
    with pytest.raises(ValueError, match="entries of Z are too large"):
        scaled_inverse(huge64.to(torch.complex128)[None], torch.ones(1, dtype=torch.float64))
    with pytest.raises(ValueError, match="entries of Z are too large"):
        rate_reduction(huge64, torch.arange(5) % 2, 0.5)
    with pytest.raises(ValueError, match="not finite"):
        factor(torch.randn(3, 4, dtype=torch.float64), torch.tensor(math.nan, dtype=torch.float64))
    with pytest.raises(ValueError, match="not finite in torch.float32"):
        factor(torch.full((3, 4), 1e20), 1.0)
    Z = torch.randn(5, 4) / 2
    with pytest.raises(ValueError, match="eps_sq is too small for torch.float32"):
        expansion_operator(Z, 1e-40)
    with pytest.raises(ValueError, match="eps_sq is too small for torch.float64"):
        coding_rate(Z.double(), 1e-320)
    assert torch.isfinite(expansion_operator(Z.double(), 1e-40)).all()     # the same scale is fine in float64


def test_check_alpha():
    assert check_alpha(2.0, torch.float32) == 2.0
    for bad in (math.inf, math.nan, 1e39):
        with pytest.raises(ValueError, match="eps_sq"):
            check_alpha(bad, torch.float32)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("forced", [0, 1, 2], ids=["cholesky", "retry", "eigen"])
def test_gradients_through_every_path_match_literal(gen, monkeypatch, side, forced):
    X = rows(gen, 3, 5, torch.float64).requires_grad_()
    a = torch.tensor([0.4, 1.3], dtype=torch.float64, requires_grad=True)
    probe = torch.randn(2, 5, 5, generator=gen, dtype=torch.float64)

    def ours(X, a):
        CholeskyFails(monkeypatch, forced)
        f = factor(X, a, side)
        return logdet(f).sum() + (operator(f) * probe).sum()

    def literal(X, a):
        return literal_logdet(X, a).sum() + (literal_operator(X, a) * probe).sum()
    g_ours = torch.autograd.grad(ours(X, a), (X, a))
    g_lit = torch.autograd.grad(literal(X, a), (X, a))
    for u, v in zip(g_ours, g_lit):
        torch.testing.assert_close(u, v, rtol=1e-8, atol=1e-10)


def test_factor_rejects_an_unknown_side(gen):
    with pytest.raises(ValueError, match="side must be one of"):
        factor(rows(gen, 3, 4, torch.float64), 1.0, "left")


def test_module_is_the_only_cholesky_in_the_library():
    "One kernel: no other module of the package factors I + αXᴴX itself."
    import pathlib
    import redunet_book
    root = pathlib.Path(redunet_book.__file__).parent
    users = sorted(p.name for p in root.glob("*.py")
                   if p.name != "gram.py" and any(w in p.read_text() for w in ("cholesky", "slogdet(", "logdet(")))
    literal_only = {"rate.py", "operators.py", "vmcr2.py"}      # literal_* reference formulas use slogdet
    for name in users:
        text = (root / name).read_text()
        assert "cholesky" not in text, f"{name} factors a matrix itself instead of calling redunet_book.gram"
        assert name in literal_only or "slogdet(" not in text, name
    assert gram.__name__ == "redunet_book.gram"
