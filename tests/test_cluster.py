"""Tests for redunet_book.cluster: coding lengths and the segmentation criterion against literal formulas,
the cached greedy merging against the literal algorithm (float64, identical merges), devices, dtypes, bad input."""
import math

import pytest
import torch

import redunet_book.cluster as cluster
from redunet_book.cluster import (canonical_labels, literal_merge_segments, membership_length, merge_segments,
                                  segment_coding_lengths, segmentation_length)
from redunet_book.core import make_generator
from redunet_book.data import subspace_samples
from redunet_book.rate import coding_length, coding_rate, rate_reduction


def literal_length(X, eps_sq, affine=False):
    "Ma et al. (2007) coding length verbatim, paper convention (n x m), slogdet on the n x n side."
    Xp = X.T
    n, m = Xp.shape
    mu = Xp.mean(1, keepdim=True)
    C = Xp - mu if affine else Xp
    L = (m + n) / 2 * torch.linalg.slogdet(torch.eye(n, dtype=X.dtype) + n / (m * eps_sq) * C @ C.T)[1]
    if affine:
        L = L + n / 2 * torch.log1p((mu * mu).sum() / eps_sq)
    return L


def literal_criterion(X, labels, eps_sq, affine=False):
    "Lᶜ(X, Π) = Σ L(Xⱼ) + Σ mⱼ(−log(mⱼ/m)), one segment at a time."
    m = X.shape[0]
    total = X.new_zeros(())
    for j in labels.unique():
        Xj = X[labels == j]
        total = total + literal_length(Xj, eps_sq, affine) - Xj.shape[0] * math.log(Xj.shape[0] / m)
    return total


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    "Run single-threaded: the merging loop is many tiny ops, and on a small busy CPU threads only wait for each other."
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mixture(dims, n, per, seed, sigma=0.03, dtype=torch.float64):
    "Unit samples on random subspaces plus noise added after normalising (as in the chapter)."
    g = make_generator(seed)
    X, y = subspace_samples(dims, n=n, samples_per_class=per, orthogonal=False, generator=g)
    return (X + sigma * torch.randn(X.shape, generator=g, dtype=X.dtype)).to(dtype), y


# ---------------------------------------------------------------- lengths against the literal formulas

@pytest.mark.parametrize("m, n, k", [(30, 5, 3), (8, 20, 2), (40, 40, 5), (5, 3, 5)])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("eps_sq", [1e-3, 0.2, 4.0])
def test_lengths_match_literal(m, n, k, affine, eps_sq, gen):
    X = torch.randn(m, n, generator=gen, dtype=torch.float64) + 0.3
    y = (torch.arange(m) % k)[torch.randperm(m, generator=gen)]
    Lj = segment_coding_lengths(X, y, eps_sq, affine=affine)
    dense = torch.stack([literal_length(X[y == j], eps_sq, affine) for j in range(k)])
    torch.testing.assert_close(Lj, dense, rtol=1e-10, atol=1e-9)
    torch.testing.assert_close(segmentation_length(X, y, eps_sq, affine=affine),
                               literal_criterion(X, y, eps_sq, affine), rtol=1e-10, atol=1e-9)
    one_hot = torch.nn.functional.one_hot(y, k).double()
    torch.testing.assert_close(segmentation_length(X, one_hot, eps_sq, affine=affine),
                               segmentation_length(X, y, eps_sq, affine=affine), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(segmentation_length(X, y, eps_sq, affine=affine, bits=True) * math.log(2),
                               segmentation_length(X, y, eps_sq, affine=affine))


def test_linear_length_is_rate_coding_length(gen):
    X = torch.randn(25, 7, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(segment_coding_lengths(X, torch.zeros(25, dtype=torch.long), 0.3)[0], coding_length(X, 0.3))
    torch.testing.assert_close(segment_coding_lengths(X, torch.zeros(25, dtype=torch.long), 0.3, bits=True)[0],
                               coding_length(X, 0.3, bits=True))


def test_soft_membership_uses_weighted_rows(gen):
    m, n, eps_sq = 12, 4, 0.4
    X = torch.randn(m, n, generator=gen, dtype=torch.float64)
    P = torch.softmax(torch.randn(m, 3, generator=gen, dtype=torch.float64), 1)
    for j in range(3):
        w, tr = P[:, j], P[:, j].sum()
        lin = (tr + n) / 2 * torch.logdet(torch.eye(n, dtype=torch.float64) + n / (tr * eps_sq) * (X.T * w) @ X)
        mu = (w[:, None] * X).sum(0) / tr
        Xc = X - mu
        aff = (tr + n) / 2 * torch.logdet(torch.eye(n, dtype=torch.float64) + n / (tr * eps_sq) * (Xc.T * w) @ Xc) \
            + n / 2 * torch.log1p(mu @ mu / eps_sq)
        torch.testing.assert_close(segment_coding_lengths(X, P, eps_sq)[j], lin, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(segment_coding_lengths(X, P, eps_sq, affine=True)[j], aff, rtol=1e-10, atol=1e-10)


def test_empty_segments_cost_nothing(gen):
    X = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 0, 2, 2, 4, 4])
    for affine in (False, True):
        Lj = segment_coding_lengths(X, y, 0.5, num_classes=6, affine=affine)
        assert torch.isfinite(Lj).all() and (Lj[[1, 3, 5]] == 0).all()
        torch.testing.assert_close(segmentation_length(X, y, 0.5, num_classes=6, affine=affine),
                                   segmentation_length(X, canonical_labels(y), 0.5, affine=affine))


def test_membership_length():
    c = torch.tensor([3.0, 5.0, 0.0, 2.0], dtype=torch.float64)
    expected = -sum(x * math.log(x / 10) for x in (3.0, 5.0, 2.0))
    assert math.isclose(membership_length(c).item(), expected, rel_tol=1e-12)
    assert membership_length(torch.tensor([7.0])).item() == 0
    merged = membership_length(torch.tensor([3.0, 5.0, 2.0])) - membership_length(torch.tensor([8.0, 2.0]))
    assert math.isclose(merged.item(), -(3 * math.log(3 / 8) + 5 * math.log(5 / 8)), rel_tol=1e-6)


@pytest.mark.parametrize("eps_sq", [0.05, 0.5, 5.0])
def test_merge_change_is_rate_reduction_minus_entropy(eps_sq, gen):
    # δLᶜ = m_ab [ΔR − H(m_a/m_ab, m_b/m_ab)] + n [R_ab − R_a − R_b]
    Xa = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    Xb = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    X, y = torch.cat([Xa, Xb]), torch.tensor([0] * 12 + [1] * 7)
    change = segmentation_length(X, torch.zeros(19, dtype=torch.long), eps_sq) - segmentation_length(X, y, eps_sq)
    H = -(12 / 19 * math.log(12 / 19) + 7 / 19 * math.log(7 / 19))
    rhs = 19 * (rate_reduction(X, y, eps_sq) - H) + 5 * (coding_rate(X, eps_sq) - coding_rate(Xa, eps_sq) - coding_rate(Xb, eps_sq))
    torch.testing.assert_close(change, rhs, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- the cached algorithm against the literal one

CASES = [  # (m, n, seed): QR path (segments > n rows), Gram side (n > m), square-ish
    (12, 3, 0), (11, 4, 1), (9, 16, 2), (10, 6, 3), (12, 2, 4),
]


@pytest.mark.parametrize("m, n, seed", CASES)
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("eps_sq", [1e-3, 0.2])
def test_fast_matches_literal(m, n, seed, affine, eps_sq):
    g = make_generator(seed)
    X = torch.randn(m, n, generator=g, dtype=torch.float64)
    X[: m // 2, n // 2:] *= 0.05                                 # half the samples near a subspace
    fast, slow = merge_segments(X, eps_sq, affine=affine), literal_merge_segments(X, eps_sq, affine=affine)
    assert torch.equal(fast.history.pairs, slow.history.pairs)
    assert torch.equal(fast.labels, slow.labels)
    assert torch.equal(fast.history.num_segments, slow.history.num_segments)
    torch.testing.assert_close(fast.history.length, slow.history.length, rtol=1e-10, atol=1e-8)
    torch.testing.assert_close(fast.history.gains, slow.history.gains, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("affine", [False, True])
def test_fast_matches_literal_from_initial_groups(affine):
    g = make_generator(7)
    X = torch.randn(16, 5, generator=g, dtype=torch.float64)
    init = torch.randint(3, 14, (16,), generator=g)              # gaps and arbitrary numbering
    fast, slow = merge_segments(X, 0.1, affine=affine, init=init), literal_merge_segments(X, 0.1, affine=affine, init=init)
    assert torch.equal(fast.history.pairs, slow.history.pairs) and torch.equal(fast.labels, slow.labels)
    assert fast.history.num_segments[0] == canonical_labels(init).max() + 1
    for j in canonical_labels(init).unique():                    # initial groups are never split
        assert fast.labels[canonical_labels(init) == j].unique().numel() == 1


def test_history_is_consistent(gen):
    X, _ = mixture([1, 2], n=5, per=20, seed=3)
    for affine in (False, True):
        seg = merge_segments(X, 0.02, affine=affine)
        h = seg.history
        T = h.pairs.shape[0]
        assert h.length.shape == (T + 1,) and h.gains.shape == (T,) and h.num_segments.shape == (T + 1,)
        assert (h.gains < 0).all() and (h.length.diff() < 0).all()
        torch.testing.assert_close(h.length.diff(), h.gains)
        assert h.num_segments[0] == 40 and h.num_segments[-1] == seg.labels.max() + 1
        torch.testing.assert_close(h.length[-1], segmentation_length(X, seg.labels, 0.02, affine=affine), rtol=1e-10, atol=1e-8)
        assert (h.pairs[:, 0] < h.pairs[:, 1]).all()


def test_chunked_gains_give_same_result(monkeypatch):
    X, _ = mixture([1, 1, 2], n=6, per=15, seed=5)
    ref = merge_segments(X, 0.05)
    monkeypatch.setattr(cluster, "_BATCH_ELEMENTS", 64)          # force many small batches
    seg = merge_segments(X, 0.05)
    assert torch.equal(seg.history.pairs, ref.history.pairs) and torch.equal(seg.labels, ref.labels)


def test_recovers_mixture_of_subspaces():
    X, y = mixture([1, 2, 3], n=8, per=[30, 40, 50], seed=0)
    seg = merge_segments(X, 0.01)
    assert torch.equal(seg.labels, canonical_labels(y))


def test_extremes_of_precision():
    X, _ = mixture([1, 2], n=6, per=15, seed=1)
    assert merge_segments(X, 100.0).labels.max() == 0            # coarse: one segment
    assert merge_segments(X, 1e-12).labels.max() > 10           # fine: almost nothing merges


def test_degenerate_inputs():
    one = merge_segments(torch.ones(1, 3, dtype=torch.float64), 0.1)
    assert one.labels.tolist() == [0] and one.history.pairs.shape == (0, 2) and one.history.length.shape == (1,)
    same = merge_segments(torch.ones(6, 3, dtype=torch.float64), 0.1)      # identical samples: one segment
    assert same.labels.tolist() == [0] * 6
    zeros = merge_segments(torch.zeros(5, 4, dtype=torch.float64), 0.1)    # zero samples cost nothing to code
    assert torch.isfinite(zeros.history.length).all()


def test_dtypes_and_devices(dtype, device):
    X, y = mixture([1, 2], n=6, per=25, seed=2, dtype=dtype)
    seg = merge_segments(X.to(device), 0.01)
    assert seg.labels.device.type == device.type and seg.history.length.dtype == dtype
    assert torch.equal(seg.labels.cpu(), canonical_labels(y))
    L = segmentation_length(X.to(device), y.to(device), 0.01)
    torch.testing.assert_close(L.cpu().double(), segmentation_length(X.double(), y, 0.01), rtol=1e-4 if dtype == torch.float32 else 1e-10, atol=1e-6)


def test_canonical_labels():
    assert canonical_labels(torch.tensor([7, 7, 2, 9, 2])).tolist() == [0, 0, 1, 2, 1]
    assert canonical_labels(torch.tensor([], dtype=torch.long)).numel() == 0
    with pytest.raises(TypeError, match="integer dtype"):
        canonical_labels(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        canonical_labels(torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="shape"):
        canonical_labels(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        canonical_labels([0, 1])


# ---------------------------------------------------------------- bad input

X_BAD = torch.randn(10, 3)
Y_BAD = torch.zeros(10, dtype=torch.long)


@pytest.mark.parametrize("eps_sq", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_eps_sq(eps_sq):
    for fn in (lambda: merge_segments(X_BAD, eps_sq), lambda: segmentation_length(X_BAD, Y_BAD, eps_sq),
               lambda: segment_coding_lengths(X_BAD, Y_BAD, eps_sq), lambda: literal_merge_segments(X_BAD, eps_sq)):
        with pytest.raises(ValueError, match="eps_sq"):
            fn()


def test_bad_eps_sq_type():
    with pytest.raises(TypeError, match="eps_sq"):
        merge_segments(X_BAD, "0.1")


def test_bad_features():
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        merge_segments(X_BAD[0], 0.1)
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        merge_segments(X_BAD.numpy(), 0.1)
    with pytest.raises(TypeError, match="float32 or float64"):
        merge_segments(X_BAD.long(), 0.1)
    with pytest.raises(ValueError, match="NaN or Inf"):
        merge_segments(torch.full((4, 2), float("nan")), 0.1)
    with pytest.raises(ValueError, match="at least 1 sample"):
        merge_segments(torch.zeros(0, 3), 0.1)


def test_bad_init():
    with pytest.raises(ValueError, match="init has 9 labels"):
        merge_segments(X_BAD, 0.1, init=torch.zeros(9, dtype=torch.long))
    with pytest.raises(TypeError, match="integer dtype"):
        merge_segments(X_BAD, 0.1, init=torch.zeros(10))
    with pytest.raises(ValueError, match=">= 0"):
        merge_segments(X_BAD, 0.1, init=-torch.ones(10, dtype=torch.long))


def test_bad_flags():
    with pytest.raises(TypeError, match="affine must be True or False"):
        merge_segments(X_BAD, 0.1, affine="yes")
    with pytest.raises(TypeError, match="affine must be True or False"):
        segmentation_length(X_BAD, Y_BAD, 0.1, affine=1)


def test_bad_membership():
    with pytest.raises(ValueError, match="membership has 9 rows"):
        segmentation_length(X_BAD, Y_BAD[:9], 0.1)
    with pytest.raises(ValueError, match="num_classes=2"):
        segmentation_length(X_BAD, torch.arange(10) % 3, 0.1, num_classes=2)
    with pytest.raises(ValueError, match="simplex"):
        segment_coding_lengths(X_BAD, torch.full((10, 2), 0.7), 0.1)


def test_bad_counts():
    with pytest.raises(TypeError, match="counts"):
        membership_length(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="counts must be >= 0"):
        membership_length(torch.tensor([1.0, -2.0]))


def test_merge_segments_without_features():
    "Data in R⁰ (n = 0) cost nothing to code; only the membership code is left, so everything merges (it divided by zero)."
    X = torch.zeros(5, 0, dtype=torch.float64)
    seg = merge_segments(X, 0.5)
    assert seg.labels.tolist() == [0] * 5 and float(seg.history.length[-1]) == 0.0
    assert torch.equal(seg.labels, literal_merge_segments(X, 0.5).labels)


def test_large_float32_data_codes_in_float64_and_stays_finite():
    "Entries of 1e20 overflow αXᵀX in float32 (~1e41); the lengths are ordinary numbers, computed in float64."
    X = (subspace_samples([1, 1], n=5, samples_per_class=6, orthogonal=False, generator=make_generator(0))[0] * 1e20).float()
    seg32, seg64 = merge_segments(X, 0.1), merge_segments(X.double(), 0.1)        # the same data, float32 and float64
    assert seg32.history.length.dtype == torch.float32 and bool(torch.isfinite(seg32.history.length).all())
    assert torch.equal(seg32.labels, seg64.labels)
    torch.testing.assert_close(seg32.history.length, seg64.history.length.float())
    y = torch.arange(12) % 2
    L32 = segment_coding_lengths(X, y, 0.1, affine=True)
    assert L32.dtype == torch.float32 and bool(torch.isfinite(L32).all())
    torch.testing.assert_close(L32, segment_coding_lengths(X.double(), y, 0.1, affine=True).float())
    torch.testing.assert_close(segmentation_length(X, y, 0.1), segmentation_length(X.double(), y, 0.1).float())
    with pytest.raises(ValueError, match="X is too large"):
        merge_segments(X.double() * 1e140, 0.1)
