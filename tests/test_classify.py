"""Tests of the nearest-subspace classifier (nbs/04a_nearest_subspace.ipynb, ReduNet paper §5.1) against a literal loop."""
import pytest
import torch

from redunet_book.classify import NearestSubspace, accuracy, nearest_subspace
from redunet_book.core import make_generator
from redunet_book.data import subspace_samples

F64 = torch.float64


def _split(seed=0, dims=(2, 3, 1), n=7, per=30, noise=0.2, orthogonal=False):
    "Train/test halves of one noisy subspace draw (same subspaces, disjoint samples), float64."
    Z, y = subspace_samples(list(dims), n, per, orthogonal=orthogonal, noise=noise, generator=make_generator(seed))
    return Z[::2], y[::2], Z[1::2], y[1::2]


def literal_distances(Ztr, ytr, Zte, rs, k, center=True):
    "§5.1 loop by loop: per class an SVD and an explicit projector I − UUᵀ, per sample the squared residual."
    n = Ztr.shape[1]
    D = torch.full((Zte.shape[0], k), float("inf"), dtype=F64)
    for j in range(k):
        Zj = Ztr[ytr == j].double()
        if Zj.shape[0] == 0:
            continue
        mu = Zj.mean(0) if center else torch.zeros(n, dtype=F64)
        X = Zj - mu
        r = min(rs[j], int(torch.linalg.matrix_rank(X)))
        U = torch.linalg.svd(X, full_matrices=False).Vh[:r].T
        P = torch.eye(n, dtype=F64) - U @ U.T
        for i in range(Zte.shape[0]):
            v = P @ (Zte[i].double() - mu)
            D[i, j] = float(v @ v)
    return D


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("rs", [2, [1, 3, 2], [5, 1, 1]])
def test_matches_literal_loop(center, rs):
    Ztr, ytr, Zte, yte = _split()
    rlist = [rs] * 3 if isinstance(rs, int) else rs
    ref = literal_distances(Ztr, ytr, Zte, rlist, 3, center)
    clf = NearestSubspace(rs, center=center).fit(Ztr, ytr)
    torch.testing.assert_close(clf.distances(Zte), ref, rtol=1e-9, atol=1e-12)
    assert torch.equal(clf.predict(Zte), ref.argmin(1))
    assert torch.equal(nearest_subspace(Ztr, ytr, Zte, rs, center=center), ref.argmin(1))
    assert clf.means_.shape == (3, 7) and clf.bases_.shape == (3, 7, max(rlist))
    # stored bases are orthonormal on their used columns and zero elsewhere
    for j in range(3):
        B = clf.bases_[j]
        r = int(clf.ranks_[j])
        torch.testing.assert_close(B[:, :r].T @ B[:, :r], torch.eye(r, dtype=F64))
        assert (B[:, r:] == 0).all()


def test_recovers_clean_orthogonal_subspaces(dtype, device):
    dims = [1, 2, 3]
    Z, y = subspace_samples(dims, 9, 40, orthogonal=True, generator=make_generator(3))
    Z, y = Z.to(dtype=dtype, device=device), y.to(device)
    for center in (True, False):
        pred = nearest_subspace(Z[::2], y[::2], Z[1::2], dims, center=center)
        assert pred.device == Z.device and pred.dtype == torch.int64
        assert accuracy(pred, y[1::2]) == 1.0
    assert NearestSubspace(dims, center=False).fit(Z, y).ranks_.tolist() == dims


def test_centering_option():
    "Shifting every feature by a constant: the centred rule is invariant, the uncentred one is not."
    Ztr, ytr, Zte, yte = _split(seed=1, noise=0.1)
    shift = 3.0 * torch.ones(7, dtype=F64)
    c0 = NearestSubspace(2, center=True).fit(Ztr, ytr)
    c1 = NearestSubspace(2, center=True).fit(Ztr + shift, ytr)
    torch.testing.assert_close(c1.distances(Zte + shift), c0.distances(Zte), rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(c0.means_[1], Ztr[ytr == 1].mean(0))
    u = NearestSubspace(2, center=False).fit(Ztr + shift, ytr)
    assert (u.means_ == 0).all()
    assert not torch.allclose(u.distances(Zte + shift), c0.distances(Zte))


def test_per_class_components_and_cap():
    Ztr, ytr, Zte, _ = _split(seed=2, noise=0.0, orthogonal=True)      # exact dims 2, 3, 1
    clf = NearestSubspace([1, 7, 7], center=False).fit(Ztr, ytr)
    assert clf.ranks_.tolist() == [1, 3, 1]                           # capped at the class rank
    # one-sample class, centred: rank 0, judged by the distance to its mean
    Z1 = torch.cat([Ztr, Zte[:1]])
    y1 = torch.cat([ytr, torch.tensor([3])])
    c = NearestSubspace(2).fit(Z1, y1)
    assert int(c.ranks_[3]) == 0
    torch.testing.assert_close(c.distances(Zte)[:, 3], (Zte - Zte[0]).square().sum(1))


def test_empty_class_is_skipped():
    Ztr, ytr, Zte, yte = _split(seed=4)
    ytr2 = torch.where(ytr == 2, 4, ytr)                               # classes 2 and 3 empty, k = 6
    clf = NearestSubspace(2).fit(Ztr, ytr2, num_classes=6)
    D = clf.distances(Zte)
    assert D.shape == (Zte.shape[0], 6) and not D.isnan().any()
    assert torch.isinf(D[:, [2, 3, 5]]).all() and torch.isfinite(D[:, [0, 1, 4]]).all()
    assert torch.isin(clf.predict(Zte), torch.tensor([0, 1, 4])).all()
    assert not clf.means_.isnan().any() and not clf.bases_.isnan().any()


def test_float32_matches_float64():
    Ztr, ytr, Zte, _ = _split(seed=5)
    p64 = nearest_subspace(Ztr, ytr, Zte, 2)
    p32 = nearest_subspace(Ztr.float(), ytr, Zte.float(), 2)
    assert (p64 == p32).double().mean() > 0.97


def test_accuracy():
    assert accuracy(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2])) == 0.75
    with pytest.raises(ValueError, match="same non-empty shape"):
        accuracy(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="pred"):
        accuracy(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, dtype=torch.long))


def test_bad_input():
    Ztr, ytr, Zte, _ = _split()
    cases = [
        (dict(train_Z=Ztr[0]), ValueError, "train_Z"),
        (dict(train_Z=Ztr.long()), TypeError, "train_Z"),
        (dict(test_Z=Zte[:, :4]), ValueError, "test_Z"),
        (dict(test_Z=Zte * float("nan")), ValueError, "NaN"),
        (dict(train_Z=torch.where(Ztr > 0.5, float("inf"), Ztr)), ValueError, "train_Z"),
        (dict(train_labels=ytr[:-1]), ValueError, "train_labels"),
        (dict(train_labels=ytr.double()), TypeError, "train_labels"),
        (dict(train_labels=ytr - 1), ValueError, "train_labels"),
        (dict(train_labels=list(ytr)), TypeError, "train_labels"),
        (dict(num_components=0), ValueError, "num_components"),
        (dict(num_components=8), ValueError, "num_components"),
        (dict(num_components=[2, 2]), ValueError, "num_components"),
        (dict(num_components=2.0), TypeError, "num_components"),
        (dict(num_components=[2, 2.5, 1]), TypeError, "num_components"),
        (dict(num_classes=2), ValueError, "num_classes"),
    ]
    base = dict(train_Z=Ztr, train_labels=ytr, test_Z=Zte, num_components=2)
    for over, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            nearest_subspace(**{**base, **over})
    with pytest.raises(RuntimeError, match="fit"):
        NearestSubspace(2).predict(Zte)


@pytest.mark.parametrize("fail_times, n", [(1, 6), (2, 6), (2, 30)])
def test_fit_survives_an_svd_that_does_not_converge(monkeypatch, fail_times, n):
    "If LAPACK's SVD fails (degenerate classes), fit retries in float64 and then uses eigh: the same subspaces and predictions."
    import redunet_book.classify as classify
    g = torch.Generator().manual_seed(0)
    Z = torch.randn(40, n, generator=g)
    Z[:10] = Z[0]                                                            # class 0: one repeated row
    y = torch.arange(4).repeat_interleave(10)
    want = classify.NearestSubspace(3, center=True).fit(Z, y)
    real_svd, calls = torch.linalg.svd, {"n": 0}
    def flaky_svd(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= fail_times:
            raise torch.linalg.LinAlgError("linalg.svd: the algorithm failed to converge (simulated)")
        return real_svd(*args, **kwargs)
    monkeypatch.setattr(torch.linalg, "svd", flaky_svd)
    got = classify.NearestSubspace(3, center=True).fit(Z, y)
    assert calls["n"] == min(fail_times + 1, 2)
    assert torch.equal(got.ranks_, want.ranks_) and got.bases_.dtype == Z.dtype
    proj = lambda B: B @ B.mT                                                # noqa: E731  (bases agree up to sign)
    torch.testing.assert_close(proj(got.bases_), proj(want.bases_), atol=1e-4, rtol=0)
    Zt = torch.randn(25, n, generator=g)
    assert torch.equal(got.predict(Zt), want.predict(Zt))
