"""Tests of classification by compression (nbs/04b_compression_classifier.ipynb): MICL (Wright et al. 2007) and the
slides' min δRᶜ, the fast rank-one increments against literal log-determinants and against the package's own rates."""
import math

import pytest
import torch

from redunet_book.cluster import segment_coding_lengths
from redunet_book.micl import CRITERIA, CompressionClassifier, classify_by_compression
from redunet_book.rate import class_coding_rate

F64 = torch.float64


def literal_length(X, eps_sq):
    "L̂(X) of Ma et al. (2007), verbatim in the paper's convention (n x m), with the mean."
    Xp = X.T
    n, m = Xp.shape
    mu = Xp.mean(1, keepdim=True)
    C = Xp - mu
    return ((m + n) / 2 * torch.linalg.slogdet(torch.eye(n, dtype=X.dtype) + n / (m * eps_sq) * C @ C.T)[1]
            + n / 2 * torch.log1p((mu * mu).sum() / eps_sq))


def literal_increments(Z, y, X, eps_sq, k, criterion):
    "δL(x, j) = L̂(Xⱼ ∪ x) − L̂(Xⱼ) − log(mⱼ/m), or δRᶜ(x, j) = Rᶜ(Z ∪ x, x in j) − Rᶜ(Z), one pair at a time."
    n = Z.shape[1]

    def rc(Zs, ys):
        m = len(ys)
        total = torch.zeros((), dtype=Zs.dtype)
        for j in range(k):
            Zj = Zs[ys == j]
            if len(Zj):
                total = total + len(Zj) / (2 * m) * torch.linalg.slogdet(torch.eye(n, dtype=Zs.dtype)
                                                                        + n / (len(Zj) * eps_sq) * Zj.T @ Zj)[1]
        return total

    out = torch.full((len(X), k), math.inf, dtype=F64)
    for j in range(k):
        Zj = Z[y == j]
        if not len(Zj):
            continue
        for t, x in enumerate(X):
            if criterion == "micl":
                out[t, j] = literal_length(torch.cat([Zj, x[None]]), eps_sq) - literal_length(Zj, eps_sq) - math.log(len(Zj) / len(y))
            else:
                out[t, j] = rc(torch.cat([Z, x[None]]), torch.cat([y, y.new_tensor([j])])) - rc(Z, y)
    return out


def _data(seed, m=25, n=6, k=3, t=8):
    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(m, n, dtype=F64, generator=g)
    y = torch.randint(0, k, (m,), generator=g)
    y[:k] = torch.arange(k)                                                  # every class present
    return Z, y, torch.randn(t, n, dtype=F64, generator=g)


@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("m,n", [(25, 6), (9, 12), (40, 3)])
@pytest.mark.parametrize("eps_sq", [0.05, 1.0])
def test_increments_match_the_literal_definition(criterion, m, n, eps_sq):
    Z, y, X = _data(m + n, m=m, n=n)
    fast = CompressionClassifier(eps_sq, criterion, chunk=3).fit(Z, y).increments(X)
    torch.testing.assert_close(fast, literal_increments(Z, y, X, eps_sq, 3, criterion), rtol=1e-9, atol=1e-9)


def test_micl_agrees_with_chapter_02a_coding_lengths():
    "A second oracle: the package's affine segment lengths, before and after the sample joins, plus the label's code."
    Z, y, X = _data(3)
    inc = CompressionClassifier(0.4).fit(Z, y).increments(X)
    before = segment_coding_lengths(Z, y, 0.4, affine=True)
    for t in range(len(X)):
        for j in range(3):
            after = segment_coding_lengths(torch.cat([Z, X[t:t + 1]]), torch.cat([y, y.new_tensor([j])]), 0.4, affine=True)
            want = after[j] - before[j] - math.log(float((y == j).sum()) / len(y))
            torch.testing.assert_close(inc[t, j], want, rtol=1e-9, atol=1e-9)


def test_rate_rule_agrees_with_the_package_rate_of_the_parts():
    "A second oracle: δRᶜ is the change of `rate.class_coding_rate` when the sample joins class j."
    Z, y, X = _data(4)
    inc = CompressionClassifier(0.3, "rate").fit(Z, y).increments(X)
    base = class_coding_rate(Z, y, 0.3, num_classes=3)
    for t in range(len(X)):
        for j in range(3):
            new = class_coding_rate(torch.cat([Z, X[t:t + 1]]), torch.cat([y, y.new_tensor([j])]), 0.3, num_classes=3)
            torch.testing.assert_close(inc[t, j], new - base, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("criterion", CRITERIA)
def test_empty_class_is_never_chosen(criterion):
    Z, y, X = _data(5)
    clf = CompressionClassifier(0.5, criterion).fit(Z, y, num_classes=5)
    inc = clf.increments(X)
    assert torch.isinf(inc[:, 3:]).all() and torch.isfinite(inc[:, :3]).all()
    assert (clf.predict(X) < 3).all()


def test_one_sample_class_and_single_test_row():
    Z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.9]], dtype=F64)
    y = torch.tensor([0, 1, 1])
    for criterion in CRITERIA:
        inc = CompressionClassifier(0.1, criterion).fit(Z, y).increments(torch.tensor([[0.95, 0.05]], dtype=F64))
        assert torch.isfinite(inc).all()
        torch.testing.assert_close(inc, literal_increments(Z, y, torch.tensor([[0.95, 0.05]], dtype=F64), 0.1, 2, criterion))


@pytest.mark.parametrize("criterion", CRITERIA)
def test_recovers_clean_orthogonal_lines(criterion):
    "Samples on three coordinate axes (both signs): every test sample on an axis goes to its class."
    eye = torch.eye(3, dtype=F64)
    y = torch.arange(3).repeat(6)
    Z = eye[y] * torch.linspace(-1, 1, 18, dtype=F64)[:, None].sign()
    X, yx = eye[torch.tensor([0, 1, 2, 1])] * 0.7, torch.tensor([0, 1, 2, 1])
    assert torch.equal(classify_by_compression(Z, y, X, 0.05, criterion), yx)


def test_float32_input_is_computed_in_float64_without_overflow(dtype):
    "Large float32 inputs (n·max|x|²/ε² far beyond float32's range of exact sums) give the float64 decisions."
    Z, y, X = _data(6, m=30, n=8)
    for scale in (1.0, 1e3):
        p32 = classify_by_compression((Z * scale).to(dtype), y, (X * scale).to(dtype), 1e-3)
        p64 = classify_by_compression(Z * scale, y, X * scale, 1e-3)
        assert torch.equal(p32, p64)
        assert torch.isfinite(CompressionClassifier(1e-3).fit((Z * scale).to(dtype), y).increments((X * scale).to(dtype))).all()


def test_device(device):
    Z, y, X = _data(7)
    clf = CompressionClassifier(0.5).fit(Z.to(device), y.to(device))
    assert clf.predict(X.to(device)).device.type == device.type
    assert torch.equal(clf.predict(X.to(device)).cpu(), CompressionClassifier(0.5).fit(Z, y).predict(X))


def test_bad_input_names_the_argument():
    Z, y, X = _data(8)
    with pytest.raises(ValueError, match="eps_sq"):
        CompressionClassifier(-1.0)
    with pytest.raises(ValueError, match="criterion"):
        CompressionClassifier(0.5, "bits")
    with pytest.raises(RuntimeError, match="fit"):
        CompressionClassifier(0.5).predict(X)
    clf = CompressionClassifier(0.5)
    with pytest.raises(TypeError, match="train_Z"):
        clf.fit(Z.numpy(), y)
    with pytest.raises(ValueError, match="train_labels"):
        clf.fit(Z, y[:-1])
    with pytest.raises(TypeError, match="train_labels"):
        clf.fit(Z, y.double())
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(Z * float("nan"), y)
    clf.fit(Z, y)
    with pytest.raises(ValueError, match="test_Z"):
        clf.predict(X[:, :3])
    with pytest.raises(TypeError, match="test_Z"):
        clf.predict(X.tolist())
    assert repr(clf) == "CompressionClassifier(eps_sq=0.5, criterion='micl')"
