"""Tests for redunet_book.learned_features: label corruption, spectra, effective rank, class subspaces, principal images,
each against its literal definition (float64, small sizes), and the two experiments' records (issue 17 items 1-2)."""
import math

import pytest
import torch

from redunet_book.core import make_generator
from redunet_book.data import subspace_samples
from redunet_book.learned_features import (LabelNoiseConfig, class_bases, class_spectra, corrupt_labels, effective_rank,
                                           feature_geometry, principal_images)
from redunet_book.rate import rate_terms

F64 = torch.float64


def literal_corrupt(labels, ratio, k, seed):
    g = make_generator(seed)
    S = torch.randperm(len(labels), generator=g)[:math.floor(ratio * len(labels) + 1e-9)]
    u = torch.randint(0, k, (len(S),), generator=g)
    out = labels.clone()
    for i, v in zip(S.tolist(), u.tolist()):
        out[i] = v
    return out, S


@pytest.mark.parametrize("N, k, ratio", [(50, 3, 0.0), (50, 3, 0.3), (101, 10, 0.5), (7, 2, 1.0), (0, 4, 0.5)])
def test_corrupt_labels_is_the_literal_draw(N, k, ratio):
    y = torch.arange(N) % k
    noisy, redrawn = corrupt_labels(y, ratio, k, seed=5)
    want, S = literal_corrupt(y, ratio, k, 5)
    assert torch.equal(noisy, want) and int(redrawn.sum()) == len(S) == math.floor(ratio * N + 1e-9)
    assert torch.equal(noisy[~redrawn], y[~redrawn]) and noisy.dtype == y.dtype
    assert N == 0 or int(noisy.max()) < k


def test_corrupt_labels_nested_and_wrong_fraction():
    y = torch.arange(3000) % 10
    masks = [corrupt_labels(y, r, 10, seed=2)[1] for r in (0.1, 0.2, 0.4)]
    assert all(bool((a <= b).all()) for a, b in zip(masks, masks[1:]))
    wrong = [float((corrupt_labels(y, 0.5, 10, seed=s)[0] != y).float().mean()) for s in range(10)]
    assert abs(sum(wrong) / 10 - 0.45) < 0.01                              # ρ (k-1)/k of the labels are wrong
    assert corrupt_labels(y, 0.3, 10, seed=0)[0].tolist() == corrupt_labels(y, 0.3, 10, seed=0)[0].tolist()


def test_corrupt_labels_errors():
    y = torch.tensor([0, 1, 2])
    for bad, exc, says in [((y, 1.5, 3), ValueError, "ratio"), ((y, -0.1, 3), ValueError, "ratio"), ((y, 0.5, 2), ValueError, "labels"),
                           ((y.double(), 0.5, 3), TypeError, "labels"), ((y, "half", 3), TypeError, "ratio")]:
        with pytest.raises(exc, match=says):
            corrupt_labels(*bad)


def data(m=31, n=6, k=4, seed=0, dtype=torch.float64):
    g = make_generator(seed)
    return torch.randn(m, n, generator=g, dtype=dtype), torch.randint(0, k, (m,), generator=g)


@pytest.mark.parametrize("m, n, k", [(31, 6, 4), (8, 12, 3), (40, 3, 2)])
def test_class_spectra_against_one_svd_per_class(m, n, k):
    Z, y = data(m, n, k)
    y[y == k - 1] = 0                                                       # an empty class
    S = class_spectra(Z, y, k)
    for j in range(k):
        s = torch.linalg.svdvals(Z[y == j]) if (y == j).any() else torch.zeros(0, dtype=F64)
        torch.testing.assert_close(S[j, :len(s)], s)
        assert float(S[j, len(s):].abs().sum()) < 1e-12
    assert float(effective_rank(S)[k - 1]) == 0.0


def test_effective_rank_values():
    assert float(effective_rank(torch.ones(7, dtype=F64))) == pytest.approx(7)
    assert float(effective_rank(torch.tensor([3.0, 0, 0], dtype=F64))) == pytest.approx(1)
    s = torch.tensor([[4.0, 2, 1, 1], [1, 1, 0, 0]], dtype=F64)
    p = s[0] / s[0].sum()
    torch.testing.assert_close(effective_rank(s), torch.stack([(-(p * p.log()).sum()).exp(), torch.tensor(2.0, dtype=F64)]))
    torch.testing.assert_close(effective_rank(10 * s), effective_rank(s))           # scale free
    with pytest.raises(ValueError, match="singular_values"):
        effective_rank(torch.tensor([1.0, -1.0]))
    with pytest.raises(TypeError, match="singular_values"):
        effective_rank(torch.tensor([1, 2]))


def test_class_bases_span_the_class_top_directions():
    Z, y = data(60, 8, 3)
    B = class_bases(Z, y, 3, 3)
    for j in range(3):
        torch.testing.assert_close(B[j] @ B[j].T, torch.eye(3, dtype=F64))
        V = torch.linalg.svd(Z[y == j], full_matrices=False).Vh[:3]
        torch.testing.assert_close((V @ B[j].T).abs(), torch.eye(3, dtype=F64), atol=1e-8, rtol=0)   # same directions up to sign
    with pytest.raises(ValueError, match="components"):
        class_bases(Z, y, 9, 3)


def test_feature_geometry_against_literal_loops():
    Z, y = data(25, 7, 3, seed=4)
    geo = feature_geometry(Z, y, 3, eps_sq=0.7, components=2)
    U = torch.nn.functional.normalize(Z, dim=1)
    within = [abs(float(U[i] @ U[j])) for i in range(25) for j in range(25) if i != j and y[i] == y[j]]
    between = [abs(float(U[i] @ U[j])) for i in range(25) for j in range(25) if y[i] != y[j]]
    assert float(geo["cos_within"]) == pytest.approx(sum(within) / len(within))
    assert float(geo["cos_between"]) == pytest.approx(sum(between) / len(between))
    bases = [torch.linalg.svd(Z[y == j], full_matrices=False).Vh[:2] for j in range(3)]
    for j in range(3):
        for i in range(3):
            want = 0.0 if j == i else float(torch.linalg.matrix_norm(bases[j] @ bases[i].T, ord=2))
            assert float(geo["subspace_cos"][j, i]) == pytest.approx(want, abs=1e-10)
    t = rate_terms(Z, y, 0.7, 3)
    assert (float(geo["R"]), float(geo["Rc"]), float(geo["delta_r"])) == pytest.approx((float(t.R), float(t.Rc), float(t.delta)))
    torch.testing.assert_close(geo["overall"], torch.linalg.svdvals(Z))


def test_feature_geometry_tells_collapse_from_orthogonal_subspaces():
    g = make_generator(0)
    Z, y = subspace_samples([3, 3, 3], 12, 20, orthogonal=True, generator=g)
    geo = feature_geometry(Z, y, 3, components=3)
    assert float(geo["subspace_cos_max"]) < 1e-10 and float(geo["cos_between"]) < 1e-10 and float(geo["class_rank"].min()) > 2.5
    means = torch.nn.functional.normalize(torch.randn(3, 12, generator=g, dtype=F64), dim=1)
    Zc = means[y] + 1e-6 * torch.randn(60, 12, generator=g, dtype=F64)
    geo = feature_geometry(Zc, y, 3, components=1)
    assert float(geo["class_rank"].max()) < 1.01 and float(geo["cos_within"]) > 0.999


def test_feature_geometry_float32_empty_class_no_nan():
    Z, y = data(30, 5, 4, dtype=torch.float32)
    y[y == 2] = 1
    geo = feature_geometry(Z, y, 4, components=1)
    assert all(bool(torch.isfinite(torch.as_tensor(v)).all()) for v in geo.values())
    assert float(geo["subspace_cos"][2].abs().sum()) == 0.0 and float(geo["class_rank"][2]) == 0.0


def test_principal_images_against_literal():
    Z, y = data(45, 6, 3, seed=7)
    idx = principal_images(Z, y, components=2, per_component=4, num_classes=3)
    assert idx.shape == (3, 2, 4)
    for j in range(3):
        members = (y == j).nonzero()[:, 0]
        V = torch.linalg.svd(Z[members], full_matrices=False).Vh[:2]
        for c in range(2):
            want = members[(Z[members] @ V[c]).abs().argsort(descending=True)[:4]]
            assert idx[j, c].tolist() == want.tolist()
            assert bool((y[idx[j, c]] == j).all())
    with pytest.raises(ValueError, match="per_component"):
        principal_images(Z, y, components=1, per_component=100, num_classes=3)


def test_label_noise_config_checks():
    with pytest.raises(ValueError, match="noise_ratios"):
        LabelNoiseConfig(noise_ratios=(0.1, 1.5))
    with pytest.raises(ValueError, match="eps_sq"):
        LabelNoiseConfig(eps_sq_study=(0.0,))
    paper = LabelNoiseConfig.paper()
    assert paper.noise_ratios == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5) and paper.eps_sq_study == (0.75, 1.0)
