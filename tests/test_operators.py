"""Tests for redunet_book.operators: E, Cʲ and the closed-form gradient against the literal formulas and
autograd (float64), the Woodbury / Cholesky / eigenvalue sides, Remark 2 and eq. (18), empty classes,
dtypes and devices, projected gradient ascent, the plotting helpers (now in redunet_book.viz) on the operators' output,
and bad input."""
import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from redunet_book.core import normalize, tolerance  # noqa: E402
from redunet_book.data import subspace_samples  # noqa: E402
from redunet_book.operators import (Ascent, Operators, compression_operators, expansion_operator,  # noqa: E402
                                    gradient_ascent, gradient_ascent_step, gradient_operators, gradient_terms,
                                    inverse_scaled_gram, rate_coefficients, rate_reduction_gradient)
from redunet_book.rate import rate_reduction  # noqa: E402
from redunet_book.viz import plot_directions, plot_feature_paths  # noqa: E402

SHAPES = [(40, 6, 3), (12, 30, 4), (25, 25, 5), (7, 3, 7), (200, 16, 10)]
F64 = dict(dtype=torch.float64)


def features(m, n, gen, dtype=torch.float64, device="cpu"):
    "Unit-norm random features (m, n)."
    return normalize(torch.randn(m, n, generator=gen, **F64)).to(dtype=dtype, device=device)


def labels(m, k, gen):
    "Random labels in [0, k) with every class present when m >= k."
    return (torch.arange(m) % k)[torch.randperm(m, generator=gen)]


def soft(m, k, gen, sharpness=2.0):
    "Random soft membership rows (m, k) on the simplex."
    return torch.softmax(sharpness * torch.randn(m, k, generator=gen, **F64), dim=1)


def memberships(m, k, gen):
    "(membership, num_classes) pairs: labels, labels with two empty classes, soft rows, one-hot rows."
    y = labels(m, k, gen)
    return [(y, k), (y, k + 2), (soft(m, k, gen), k), (torch.nn.functional.one_hot(y, k).double(), k)]


def autograd_gradient(Z, membership, eps_sq, num_classes=None):
    "∂ΔR/∂Z by autograd through rate_reduction."
    Zg = Z.detach().clone().requires_grad_()
    rate_reduction(Zg, membership, eps_sq, num_classes).backward()
    return Zg.grad


def assert_rel_close(a, b, rtol):
    "max|a − b| <= rtol · max|b| (entrywise scale of the whole tensor)."
    scale = b.abs().max().clamp_min(torch.finfo(b.dtype).tiny)
    err = (a - b).abs().max() / scale
    assert err <= rtol, f"relative error {float(err):.3g} > {rtol:g}"


# ---------------------------------------------------------------- the batched inverse

@pytest.mark.parametrize("s, n", [(5, 20), (20, 5), (9, 9), (1, 4)])
def test_inverse_scaled_gram_sides_match_dense(s, n, gen):
    X = torch.randn(3, s, n, generator=gen, **F64)
    a = torch.tensor([0.1, 1.0, 7.0], **F64)
    dense = a[:, None, None] * torch.linalg.inv(torch.eye(n, **F64) + a[:, None, None] * X.mT @ X)
    for side in ("auto", "gram", "cov"):
        out = inverse_scaled_gram(X, a, side)
        assert out.shape == (3, n, n)
        torch.testing.assert_close(out, dense, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(out, out.mT, rtol=1e-12, atol=1e-13)


def test_inverse_scaled_gram_scalar_alpha_and_zero_alpha(gen):
    X = torch.randn(4, 6, generator=gen, **F64)
    torch.testing.assert_close(inverse_scaled_gram(X, 0.5), 0.5 * torch.linalg.inv(torch.eye(6, **F64) + 0.5 * X.T @ X))
    for side in ("gram", "cov"):                           # α = 0 (an empty class): the zero operator
        assert (inverse_scaled_gram(X, 0.0, side) == 0).all()
    with pytest.raises(ValueError, match="side must be"):
        inverse_scaled_gram(X, 1.0, side="left")


def test_inverse_scaled_gram_survives_a_failing_float32_factor():
    # float32, huge α, rank-deficient X: the float32 Cholesky of I + αXᵀX fails, the kernel retries in float64. The
    # operator has eigenvalues α = 1e12 and ≈ 1/120, so in float32 it is exact only up to rounding relative to α:
    # finite, PSD up to float32's eps times its largest eigenvalue, and close to the exact operator up to the
    # conditioning of I + αXᵀX (≈ 1.2e14: about 1e-14·1e14 relative error even in float64).
    X = torch.ones(3, 40, dtype=torch.float32)
    u = torch.full((40, 1), 40 ** -0.5, **F64)                 # XᵀX = 120·uuᵀ: the exact operator in closed form
    ref = 1e12 * (torch.eye(40, **F64) - u @ u.T) + 1e12 / (1 + 120e12) * u @ u.T
    for side in ("cov", "gram"):
        out = inverse_scaled_gram(X, 1e12, side=side)
        assert torch.isfinite(out).all()
        eig = torch.linalg.eigvalsh(out.double())
        assert eig.min() > -torch.finfo(torch.float32).eps * eig.max()
        torch.testing.assert_close(out.double() / 1e12, ref / 1e12, rtol=0, atol=2e-3)


def test_low_rank_float32_gradient_is_finite():
    low_rank = torch.ones(100, 64) / 8                          # 100 copies of one unit vector
    y = torch.arange(100) % 4
    for eps_sq in (1e-6, 0.5):
        assert torch.isfinite(rate_reduction_gradient(low_rank, y, eps_sq)).all()
        assert torch.isfinite(gradient_operators(low_rank, y, eps_sq).C).all()


# ---------------------------------------------------------------- E and Cʲ against the literal formulas

def test_gradient_operators_bundle(gen):
    Z = features(30, 5, gen)
    y = labels(30, 3, gen)
    ops = gradient_operators(Z, y, 0.4, num_classes=4)
    assert isinstance(ops, Operators)
    torch.testing.assert_close(ops.E, expansion_operator(Z, 0.4))
    torch.testing.assert_close(ops.C, compression_operators(Z, y, 0.4, num_classes=4))
    torch.testing.assert_close(ops.gammas, torch.bincount(y, minlength=4).double() / 30)


def test_rate_coefficients():
    y = torch.tensor([0, 0, 0, 1])
    c = rate_coefficients(torch.randn(4, 6, **F64), y, 0.5, num_classes=3)
    assert c.alpha == 6 / (4 * 0.5)
    torch.testing.assert_close(c.alphas, torch.tensor([6 / 1.5, 6 / 0.5, 0.0], **F64))
    torch.testing.assert_close(c.gammas, torch.tensor([0.75, 0.25, 0.0], **F64))


def test_empty_class_gives_zero_operator_and_no_nan(gen):
    Z = features(6, 4, gen)
    y = torch.tensor([0, 0, 1, 1, 3, 3])
    C = compression_operators(Z, y, 0.5, num_classes=5)
    assert torch.isfinite(C).all() and (C[2] == 0).all() and (C[4] == 0).all()
    G = rate_reduction_gradient(Z, y, 0.5, num_classes=5)
    torch.testing.assert_close(G, rate_reduction_gradient(Z, torch.tensor([0, 0, 1, 1, 2, 2]), 0.5), rtol=1e-12, atol=1e-14)
    # a soft membership with an all-zero column
    P = torch.zeros(6, 3, **F64)
    P[:, 0], P[:, 2] = 0.3, 0.7
    assert torch.isfinite(rate_reduction_gradient(Z, P, 0.5)).all()
    assert (compression_operators(Z, P, 0.5)[1] == 0).all()


# ---------------------------------------------------------------- the gradient (16)

def test_gradient_off_the_sphere(gen):
    Z = 3 * torch.randn(15, 7, generator=gen, **F64)          # not normalised: the formula does not need it
    y = labels(15, 3, gen)
    assert_rel_close(rate_reduction_gradient(Z, y, 0.2), autograd_gradient(Z, y, 0.2), 1e-10)


@pytest.mark.parametrize("m, n, k", [(40, 6, 3), (12, 30, 4)])
def test_gradient_terms_are_the_operators_applied(m, n, k, gen):
    Z = features(m, n, gen)
    P = soft(m, k, gen)
    ops = gradient_operators(Z, P, 0.3)
    t = gradient_terms(Z, P, 0.3)
    torch.testing.assert_close(t.expansion, Z @ ops.E, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(t.compression, torch.einsum("j,ij,ia,jab->ib", ops.gammas, P, Z, ops.C), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(rate_reduction_gradient(Z, P, 0.3), t.expansion - t.compression)


def test_uniform_soft_membership_has_zero_gradient(gen):
    Z = features(20, 5, gen)
    G = rate_reduction_gradient(Z, torch.full((20, 4), 0.25, **F64), 0.5)
    assert G.abs().max() < 1e-13


def test_duplicated_features_halve_the_gradient(gen):
    Z = features(18, 4, gen)
    y = labels(18, 3, gen)
    G2 = rate_reduction_gradient(torch.cat([Z, Z]), torch.cat([y, y]), 0.5)
    torch.testing.assert_close(2 * G2[:18], rate_reduction_gradient(Z, y, 0.5), rtol=1e-10, atol=1e-13)


# ---------------------------------------------------------------- Remark 2 (eq. 17) and eq. (18)

def ridge_residual(A, z, alpha):
    "α(z − A q⋆), q⋆ = argmin α‖z − Aq‖² + ‖q‖², for columns A (n, p) and vectors z (n, b), via lstsq."
    p = A.shape[1]
    lhs = torch.cat([math.sqrt(alpha) * A, torch.eye(p, dtype=A.dtype)])
    rhs = torch.cat([math.sqrt(alpha) * z, torch.zeros(p, z.shape[1], dtype=z.dtype)])
    return alpha * (z - A @ torch.linalg.lstsq(lhs, rhs).solution)


@pytest.mark.parametrize("m, n", [(60, 8), (5, 12)])
def test_remark_2_ridge_regression(m, n, gen):
    Z = features(m, n, gen)
    P = soft(m, 3, gen)
    zs = torch.randn(n, 10, generator=gen, **F64)
    ops, coef = gradient_operators(Z, P, 0.3), rate_coefficients(Z, P, 0.3)
    torch.testing.assert_close(ops.E @ zs, ridge_residual(Z.T, zs, coef.alpha), rtol=1e-10, atol=1e-12)
    for j in range(3):
        A = Z.T * P[:, j].sqrt()
        torch.testing.assert_close(ops.C[j] @ zs, ridge_residual(A, zs, float(coef.alphas[j])), rtol=1e-10, atol=1e-12)


def test_eq_18_eigendecomposition(gen):
    Z = features(50, 6, gen)
    alpha = 6 / (50 * 0.5)
    lam, U = torch.linalg.eigh(Z.T @ Z)
    torch.testing.assert_close(expansion_operator(Z, 0.5), alpha * U @ torch.diag(1 / (1 + alpha * lam)) @ U.T,
                               rtol=1e-10, atol=1e-12)


def test_projection_gap_is_set_by_eps_not_m():
    # the "Paper vs numbers" note: ‖E/α − P⊥‖ ≈ 1/(1 + n/(dε²)) for unit samples on a d-dim subspace
    n, d, eps_sq = 16, 4, 0.5
    gaps = []
    for m in (200, 5000):
        Z, _ = subspace_samples([d], n=n, samples_per_class=m, generator=torch.Generator().manual_seed(0))
        V = torch.linalg.svd(Z, full_matrices=False).Vh[:d].T
        gap = torch.linalg.matrix_norm(expansion_operator(Z, eps_sq) * (m * eps_sq / n) - (torch.eye(n, **F64) - V @ V.T), ord=2)
        gaps.append(float(gap))
    assert all(abs(g - 1 / (1 + n / (d * eps_sq))) < 0.03 for g in gaps)


# ---------------------------------------------------------------- dtypes and devices

def test_dtype_and_device_follow_input(dtype, device, gen):
    Z = features(40, 8, gen, dtype, device)
    y = labels(40, 3, gen).to(device)
    ops = gradient_operators(Z, y, 0.5)
    G = rate_reduction_gradient(Z, y, 0.5)
    for t in (ops.E, ops.C, ops.gammas, G, gradient_ascent_step(Z, y, 0.5, 1.0)):
        assert t.dtype == dtype and t.device.type == device.type
    G64 = rate_reduction_gradient(Z.double().cpu(), y.cpu(), 0.5)
    torch.testing.assert_close(G.double().cpu(), G64, **tolerance(dtype))
    torch.testing.assert_close(ops.C.double().cpu(), compression_operators(Z.double().cpu(), y.cpu(), 0.5), **tolerance(dtype))


def test_float32_woodbury_side_is_accurate(gen):
    Z = features(1000, 128, gen)
    y = labels(1000, 100, gen)                                  # classes of 10 samples: the s x s side
    C32 = compression_operators(Z.float(), y, 0.5)
    assert_rel_close(C32.double(), compression_operators(Z, y, 0.5), 1e-5)


# ---------------------------------------------------------------- projected gradient ascent (13)

def two_lines(gen, per_class=25):
    "Two noisy lines through the origin in R² on the unit circle, and their labels."
    return subspace_samples([1, 1], n=2, samples_per_class=per_class, orthogonal=False, noise=0.1, generator=gen)


def test_ascent_rises_and_reaches_orthogonal_lines(gen):
    Z, y = two_lines(gen)
    run = gradient_ascent(Z, y, 0.1, eta=1.0, steps=200)
    assert isinstance(run, Ascent) and run.path.shape == (201, 50, 2) and run.delta_r.shape == (201,)
    assert (torch.diff(run.delta_r) >= -1e-12).all()
    optimum = math.log(1 + 2 / (2 * 0.1)) - 0.5 * math.log(1 + 2 / 0.1)
    assert abs(float(run.delta_r[-1]) - optimum) < 1e-6
    torch.testing.assert_close(run.path.norm(dim=2), torch.ones(201, 50, **F64))
    torch.testing.assert_close(run.delta_r[-1], rate_reduction(run.Z, y, 0.1))


def test_ascent_step_and_loop_agree(gen):
    Z, y = two_lines(gen)
    run = gradient_ascent(Z, y, 0.1, eta=0.5, steps=3, keep_path=False)
    assert run.path is None and run.delta_r.shape == (4,)
    Zs = normalize(Z)
    for _ in range(3):
        Zs = gradient_ascent_step(Zs, y, 0.1, 0.5)
    torch.testing.assert_close(run.Z, Zs)
    step = normalize(Z + 0.5 * autograd_gradient(Z, y, 0.1))
    torch.testing.assert_close(gradient_ascent_step(Z, y, 0.1, 0.5), step, rtol=1e-10, atol=1e-12)


def test_ascent_zero_steps_and_no_grad_leak(gen):
    Z, y = two_lines(gen)
    run = gradient_ascent(Z.clone().requires_grad_(), y, 0.1, eta=0.5, steps=0)
    assert run.path.shape == (1, 50, 2) and not run.Z.requires_grad


# ---------------------------------------------------------------- plotting helpers

@pytest.mark.parametrize("n", [2, 3])
def test_plot_helpers_return_figures(n, gen):
    Z, y = subspace_samples([1] * n, n=n, samples_per_class=10, orthogonal=False, noise=0.1, generator=gen)
    t = gradient_terms(Z, y, 0.1)
    fig = plot_directions(Z, y, t.expansion, title="E z", tangent=True)
    assert fig.axes[0].get_title() == "E z" and fig.axes[0].get_xlabel() == "$z_1$"
    assert (fig.axes[0].name == "3d") == (n == 3)
    plt.close(fig)
    run = gradient_ascent(Z, y, 0.1, 1.0, 3)
    fig = plot_feature_paths(run.path, torch.nn.functional.one_hot(y).double(), title="paths")
    assert fig.axes[0].get_title() == "paths"
    plt.close(fig)


def test_plot_helpers_reject_bad_input(gen):
    Z = torch.randn(5, 4, generator=gen, **F64)
    y = torch.zeros(5, dtype=torch.long)
    with pytest.raises(ValueError, match="2 or 3 dimensions"):
        plot_directions(Z, y, Z)
    with pytest.raises(ValueError, match="shape of Z"):
        plot_directions(Z[:, :2], y, Z[:, :3])
    with pytest.raises(ValueError, match="path must have shape"):
        plot_feature_paths(Z, y)
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="3-D axes"):
        plot_directions(Z[:, :3], y, Z[:, :3], ax=ax)
    plt.close(fig)


# ---------------------------------------------------------------- bad input

def test_bad_input_names_the_argument(gen):
    Z = features(6, 4, gen)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="eps_sq"):
        expansion_operator(Z, 0.0)
    with pytest.raises(ValueError, match="eps_sq"):
        compression_operators(Z, y, -1.0)
    with pytest.raises(ValueError, match="membership has 5 rows"):
        rate_reduction_gradient(Z, y[:5], 0.5)
    with pytest.raises(ValueError, match="Z must have 2 dimensions"):
        gradient_operators(Z[0], y, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        expansion_operator(torch.full((3, 2), float("nan")), 0.5)
    with pytest.raises(TypeError, match="Z must be a torch.Tensor"):
        expansion_operator([[1.0, 0.0]], 0.5)
    with pytest.raises(ValueError, match="num_classes=2"):
        compression_operators(Z, y, 0.5, num_classes=2)
    with pytest.raises(ValueError, match="eta"):
        gradient_ascent_step(Z, y, 0.5, eta=0.0)
    with pytest.raises(TypeError, match="eta"):
        gradient_ascent(Z, y, 0.5, eta="big", steps=1)
    with pytest.raises(ValueError, match="steps"):
        gradient_ascent(Z, y, 0.5, eta=1.0, steps=-1)
    with pytest.raises(TypeError, match="steps"):
        gradient_ascent(Z, y, 0.5, eta=1.0, steps=2.5)
    with pytest.raises(ValueError, match="zero sample"):
        gradient_ascent(torch.zeros(6, 4, **F64), y, 0.5, eta=1.0, steps=1)
