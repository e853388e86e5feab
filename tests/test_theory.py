"""Tests for redunet_book.theory: diagnostics, the rank projection, the optimiser, the Appendix A bounds,
the spectrum analysis of Theorem 12's proof and the Table 4 features."""
import math

import pytest
import torch

from redunet_book.core import normalize
from redunet_book.data import random_orthonormal_basis, subspace_samples
from redunet_book.rate import literal_class_coding_rate, literal_coding_rate, rate_terms
from redunet_book.theory import (TABLE4_PAPER, class_ranks, class_spectra, class_spectrum_objective,
                                 coding_rate_bounds, max_cross_class_cosine, maximize_rate_reduction, ole_loss,
                                 optimal_class_spectrum, project_class_ranks, simulated_features, theorem_conditions)


def test_class_spectra_match_per_class_svd(gen):
    Z = torch.randn(17, 5, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2] * 5 + [1, 1])
    S, Vh = class_spectra(Z, y)
    for j in range(3):
        s = torch.linalg.svdvals(Z[y == j])
        torch.testing.assert_close(S[j, : len(s)], s)
        assert (S[j, len(s):] < 1e-12).all()


def test_max_cross_class_cosine_is_largest_principal_cosine(gen):
    U = random_orthonormal_basis(6, 4, gen)
    a, b = U[:, :2], U[:, 2:]
    theta = 0.3
    b = torch.stack([math.cos(theta) * a[:, 0] + math.sin(theta) * b[:, 0], b[:, 1]], 1)  # one shared-ish direction
    Z = torch.cat([torch.randn(10, 2, generator=gen, dtype=torch.float64) @ a.T,
                   torch.randn(10, 2, generator=gen, dtype=torch.float64) @ b.T])
    y = torch.arange(2).repeat_interleave(10)
    assert math.isclose(float(max_cross_class_cosine(Z, y)), math.cos(theta), rel_tol=1e-10)
    Zo, yo = subspace_samples([2, 2, 1], 6, 8, generator=gen)
    assert float(max_cross_class_cosine(Zo, yo)) < 1e-12


def test_class_ranks(gen):
    Z, y = subspace_samples([1, 3, 2], 8, 10, generator=gen)
    assert class_ranks(class_spectra(Z, y)[0]).tolist() == [1, 3, 2]


def test_project_class_ranks_is_truncated_svd_then_sphere(gen):
    Z = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1] * 6)
    out = project_class_ranks(Z, y, [1, 2])
    for j, d in enumerate([1, 2]):
        U, S, Vh = torch.linalg.svd(Z[y == j], full_matrices=False)
        torch.testing.assert_close(out[y == j], normalize((U[:, :d] * S[:d]) @ Vh[:d]))
    torch.testing.assert_close(out.norm(dim=1), torch.ones(12, dtype=torch.float64))


def test_theorem_conditions():
    c = theorem_conditions(12, [4, 4, 4], [30, 30, 30], 1.0)
    assert c["large_ambient"] and c["high_precision"] and math.isclose(c["eps_sq_bound"], math.sqrt(3))
    assert not theorem_conditions(11, [4, 4, 4], [30] * 3, 1.0)["large_ambient"]
    assert not theorem_conditions(12, [4, 4, 4], [30] * 3, 2.0)["high_precision"]


@pytest.mark.parametrize("args,exc,says", [
    ((12, [4, 0, 4], [30] * 3, 1.0), ValueError, "dims must be >= 1"),            # d = 0 divided by zero before
    ((12, [4, 4, 4], [30, 30], 1.0), ValueError, "same length"),                  # was silently truncated by zip
    ((12, [], [], 1.0), ValueError, "non-empty"),
    ((12, [4, 4], [30, 0], 1.0), ValueError, "class_sizes must be >= 1"),
    ((12, [4.0, 4], [30, 30], 1.0), TypeError, "dims must be an int"),
    ((0, [4], [30], 1.0), ValueError, "n must be >= 1"),
    ((12, [4], [30], 0.0), ValueError, "eps_sq"),
])
def test_theorem_conditions_bad_input(args, exc, says):
    with pytest.raises(exc, match=says):
        theorem_conditions(*args)


def test_maximize_rate_reduction_reaches_theorem_optimum():
    y = torch.arange(2).repeat_interleave(12)
    res = maximize_rate_reduction(y, 6, [2, 3], 0.2, steps=1000, generator=torch.Generator().manual_seed(0))
    S, _ = class_spectra(res.Z, y)
    assert class_ranks(S).tolist() == [2, 3]
    assert float(max_cross_class_cosine(res.Z, y)) < 1e-8
    torch.testing.assert_close(S[0, :2], torch.full((2,), math.sqrt(6.0), dtype=torch.float64), rtol=1e-4, atol=0)
    torch.testing.assert_close(S[1, :3], torch.full((3,), 2.0, dtype=torch.float64), rtol=1e-4, atol=0)
    assert res.history.shape == (1001, 3)
    assert (res.history[1:, 2] - res.history[:-1, 2]).min() > -1e-10
    torch.testing.assert_close(res.history[-1], torch.stack(rate_terms(res.Z, y, 0.2)))


def test_maximize_rate_reduction_rejects_bad_input():
    y = torch.arange(2).repeat_interleave(3)
    with pytest.raises(ValueError, match="one rank bound per class"):
        maximize_rate_reduction(y, 4, [1], 0.5, steps=1)
    with pytest.raises(ValueError, match="eps_sq"):
        maximize_rate_reduction(y, 4, [1, 1], -1.0, steps=1)


def test_ole_loss(gen):
    Z, y = subspace_samples([2, 1], 5, 10, generator=gen)
    assert abs(float(ole_loss(Z, y))) < 1e-10
    Zr, yr = subspace_samples([2, 2], 5, 10, orthogonal=False, generator=gen)
    expected = torch.linalg.svdvals(Zr).sum() - sum(torch.linalg.svdvals(Zr[yr == j]).sum() for j in range(2))
    torch.testing.assert_close(ole_loss(Zr, yr), expected)
    assert ole_loss(Zr, yr) < 0


def test_coding_rate_bounds_against_literal(gen):
    Z, y = subspace_samples([2, 2, 1], 7, 9, orthogonal=False, generator=gen)
    b = coding_rate_bounds(Z, y, 0.3)
    Y = torch.nn.functional.one_hot(y, 3).double()
    torch.testing.assert_close(b.lower, literal_class_coding_rate(Z, Y, 0.3))
    torch.testing.assert_close(b.R, literal_coding_rate(Z, 0.3))
    m, n = Z.shape
    upper = sum(0.5 * torch.logdet(torch.eye(n, dtype=torch.float64) + n / (m * 0.3) * Z[y == j].T @ Z[y == j])
                for j in range(3))
    torch.testing.assert_close(b.upper, upper)
    assert b.lower < b.R < b.upper


def test_spectrum_objective_matches_rate_reduction_of_orthogonal_classes(gen):
    # three orthogonal classes with prescribed spectra: ΔR equals the sum of the per-class objectives (82)
    n, mj, eps_sq = 9, 6, 0.7
    U = random_orthonormal_basis(n, 9, gen)
    spectra = [torch.tensor([3.0, 2.0, 1.0]), torch.tensor([4.0, 2.0, 0.0]), torch.tensor([2.0, 2.0, 2.0])]
    blocks = []
    for j, x in enumerate(spectra):
        V = random_orthonormal_basis(mj, 3, gen)                       # (mj, 3) orthonormal columns
        blocks.append(V @ torch.diag(x.double().sqrt()) @ U[:, 3 * j: 3 * j + 3].T)
    Z = torch.cat(blocks)
    y = torch.arange(3).repeat_interleave(mj)
    total = sum(class_spectrum_objective(x.double(), n, 3 * mj, mj, eps_sq) for x in spectra)
    torch.testing.assert_close(rate_terms(Z, y, eps_sq).delta, total)


def test_optimal_class_spectrum():
    x = optimal_class_spectrum(12, 90, 30, 4, 0.5)
    torch.testing.assert_close(x, torch.full((4,), 7.5, dtype=torch.float64))
    x = optimal_class_spectrum(12, 90, 30, 4, 1.0)
    torch.testing.assert_close(x, torch.tensor([10.0, 10, 10, 0], dtype=torch.float64))
    assert math.isclose(float(x.sum()), 30.0)


@pytest.mark.parametrize("row", [TABLE4_PAPER[0], TABLE4_PAPER[6], TABLE4_PAPER[15]])
def test_table4_rows_reproduce(row):
    n, kind, d, orth, *paper = row
    vals = torch.stack(rate_terms(*simulated_features(n, kind, d, orth, generator=torch.Generator().manual_seed(1)), 0.1))
    assert ((vals - torch.tensor(paper, dtype=torch.float64)).abs() / torch.tensor(paper) < 0.02).all()


def test_simulated_features_shapes_and_errors(gen):
    Z, y = simulated_features(32, "subspace", 2, True, m=50, k=5, generator=gen)
    assert Z.shape == (50, 32) and y.shape == (50,) and int(y.max()) < 5
    torch.testing.assert_close(Z.norm(dim=1), torch.ones(50, dtype=torch.float64))
    with pytest.raises(ValueError, match="kind must be"):
        simulated_features(8, "uniform", None, True)
