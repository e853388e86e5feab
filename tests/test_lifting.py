"""Tests for redunet_book.lifting: the nonlinearity τ of eq. (41), the Lifting modules (1D/2D, multi-channel
input) against the circulant-matrix definition of eqs. (36)/(40), shift equivariance, seeding, state_dict,
dtypes and devices, the sparse motif generator of eqs. (38)-(39), and bad input."""
import pytest
import torch

from redunet_book.circulant import circ, circulant_family, doubly_block_circulant
from redunet_book.core import tolerance
from redunet_book.lifting import Lifting, Lifting1d, Lifting2d, MotifData, sparse_motif_signals, sparsify

F64 = dict(dtype=torch.float64)


def pad(k, size):
    "Zero-pad a kernel at the end to `size`."
    out = torch.zeros(size, dtype=k.dtype)
    out[tuple(slice(0, s) for s in k.shape)] = k
    return out


def test_sparsify_literal(gen):
    z = torch.randn(50, generator=gen, **F64)
    for tau in (0.0, 0.3, 1.0):
        soft = torch.tensor([(abs(v) - tau) * (1 if v > 0 else -1) if abs(v) > tau else 0.0 for v in z.tolist()], **F64)
        relu = torch.tensor([v - tau if v > tau else 0.0 for v in z.tolist()], **F64)
        torch.testing.assert_close(sparsify(z, "soft_threshold", tau), soft)
        torch.testing.assert_close(sparsify(z, "relu", tau), relu)
    assert torch.equal(sparsify(z, "none", 2.0), z)


def test_lifting1d_matches_circulant_definition(gen, dtype):
    lift = Lifting1d(5, 4, in_channels=2, nonlinearity="none", seed=0, dtype=dtype)
    x = torch.randn(3, 2, 10, generator=gen, **F64).to(dtype)
    k = lift.kernels
    want = torch.stack([sum(x[:, d] @ circ(pad(k[c, d], (10,))).T for d in range(2)) for c in range(5)], 1)
    out = lift(x)
    assert out.shape == (3, 5, 10) and out.dtype == dtype
    torch.testing.assert_close(out, want, **tolerance(dtype))


def test_lifting2d_matches_doubly_block_circulant(gen):
    lift = Lifting2d(3, (2, 3), nonlinearity="relu", threshold=0.1, seed=1, dtype=torch.float64)
    x = torch.randn(4, 5, 6, generator=gen, **F64)
    k = lift.kernels
    lin = torch.stack([x.flatten(1) @ doubly_block_circulant(pad(k[c, 0], (5, 6))).T for c in range(3)], 1)
    torch.testing.assert_close(lift(x).flatten(2), (lin - 0.1).clamp_min(0))
    assert torch.equal(lift(x), lift(x[:, None]))


@pytest.mark.parametrize("nonlinearity", ["soft_threshold", "relu", "none"])
def test_shift_equivariance(gen, nonlinearity):
    lift = Lifting1d(6, 5, nonlinearity=nonlinearity, threshold=0.2, seed=2, dtype=torch.float64)
    x = torch.randn(3, 16, generator=gen, **F64)
    for s in range(16):
        torch.testing.assert_close(lift(torch.roll(x, s, -1)), torch.roll(lift(x), s, -1))
    lift2 = Lifting2d(4, 3, nonlinearity=nonlinearity, threshold=0.2, seed=2, dtype=torch.float64)
    img = torch.randn(2, 6, 5, generator=gen, **F64)
    for p in range(6):
        for q in range(5):
            torch.testing.assert_close(lift2(torch.roll(img, (p, q), (-2, -1))), torch.roll(lift2(img), (p, q), (-2, -1)))


def test_lifted_family_is_family_of_lifted(gen):
    "Equivariance at the level of circulant families: lifting every shift = the family of the lifted sample."
    lift = Lifting1d(3, 4, threshold=0.2, seed=3, dtype=torch.float64)
    x = torch.randn(2, 8, generator=gen, **F64)
    shifts = circulant_family(x[:, None])                                   # (2·8, 8): every shift of every sample
    torch.testing.assert_close(lift(shifts).flatten(1), circulant_family(lift(x)))


def test_seed_generator_and_normalisation(gen):
    a, b = Lifting1d(4, 3, seed=7), Lifting1d(4, 3, seed=7)
    assert torch.equal(a.kernels, b.kernels)
    assert not torch.equal(a.kernels, Lifting1d(4, 3, seed=8).kernels)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(Lifting1d(4, 3, generator=g1).kernels, Lifting1d(4, 3, generator=g2).kernels)
    torch.testing.assert_close(a.kernels.flatten(1).norm(dim=1), torch.ones(4))
    raw = Lifting1d(4, 3, seed=7, normalize_kernels=False)
    assert not torch.allclose(raw.kernels.flatten(1).norm(dim=1), torch.ones(4))
    out = Lifting1d(4, 3, seed=7, normalize_output=True, threshold=0.05)(torch.randn(5, 12, generator=gen))
    torch.testing.assert_close(out.flatten(1).norm(dim=1), torch.ones(5))


def test_state_dict_and_from_kernels(gen):
    a = Lifting2d(3, 2, seed=0, dtype=torch.float64)
    b = Lifting2d(3, 2, seed=1, dtype=torch.float64)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 4, 4, generator=gen, **F64)
    assert torch.equal(a(x), b(x))
    k = torch.randn(2, 1, 3, generator=gen, **F64)
    c = Lifting.from_kernels(k, threshold=0.1)
    assert torch.equal(c.kernels, k) and c.channels == 2 and c.kernel_size == (3,)
    torch.testing.assert_close(c(torch.randn(3, 9, generator=gen, **F64)).shape, torch.Size([3, 2, 9]))
    assert isinstance(Lifting1d.from_kernels(k), Lifting1d)


def test_device(device, gen):
    lift = Lifting1d(4, 3, seed=0).to(device)
    x = torch.randn(2, 10, generator=gen).to(device)
    assert lift(x).device.type == device.type
    assert lift(x.double()).dtype == torch.float64                      # follows the input's dtype


def test_sparse_motif_signals(gen):
    d = sparse_motif_signals(3, 4, 20, motifs_per_class=2, motif_size=5, nonzeros=3, normalize_signals=False,
                             seed=0, dtype=torch.float64)
    assert isinstance(d, MotifData)
    assert d.X.shape == (12, 20) and d.codes.shape == (12, 2, 20) and d.dictionaries.shape == (3, 2, 5)
    assert torch.equal(d.labels, torch.arange(3).repeat_interleave(4))
    assert torch.equal((d.codes != 0).sum(-1), torch.full((12, 2), 3))
    torch.testing.assert_close(d.dictionaries.norm(dim=-1), torch.ones(3, 2, **F64))
    for i in range(12):                                                 # eq. (38), x = circ(D_j) z
        j = int(d.labels[i])
        CD = torch.cat([circ(pad(d.dictionaries[j, c], (20,))) for c in range(2)], 1)
        torch.testing.assert_close(d.X[i], CD @ d.codes[i].flatten())
    e = sparse_motif_signals(3, 4, 20, seed=0)
    torch.testing.assert_close(e.X.norm(dim=1), torch.ones(12))
    assert torch.equal(e.X, sparse_motif_signals(3, 4, 20, seed=0).X)
    assert not torch.equal(e.X, sparse_motif_signals(3, 4, 20, seed=1).X)
    img = sparse_motif_signals(2, 3, (6, 7), motif_size=(2, 3), noise=0.01, seed=0)
    assert img.X.shape == (6, 6, 7) and img.dictionaries.shape == (2, 3, 2, 3)


def test_bad_input():
    with pytest.raises(ValueError, match="nonlinearity"):
        Lifting1d(3, 2, nonlinearity="tanh")
    with pytest.raises(ValueError, match="threshold"):
        Lifting1d(3, 2, threshold=-0.1)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        Lifting1d(0, 2)
    with pytest.raises(ValueError, match="kernel_size"):
        Lifting2d(3, (2, 2, 2))
    with pytest.raises(ValueError, match="dims must be 1"):
        Lifting(3, 2, dims=3)
    with pytest.raises(TypeError, match="dtype"):
        Lifting1d(3, 2, dtype=torch.int64)
    lift = Lifting1d(3, 4, seed=0)
    with pytest.raises(ValueError, match="X must have 2 or 3 dimensions"):
        lift(torch.randn(2, 1, 1, 8))
    with pytest.raises(ValueError, match="exceeds"):
        lift(torch.randn(2, 3))
    with pytest.raises(ValueError, match="channels"):
        lift(torch.randn(2, 2, 8))
    with pytest.raises(ValueError, match="in_channels=2"):
        Lifting1d(3, 2, in_channels=2)(torch.randn(2, 8))
    with pytest.raises(ValueError, match="NaN"):
        lift(torch.tensor([[1.0, float("nan"), 0, 0, 0]]))
    with pytest.raises(ValueError, match="motif_size"):
        sparse_motif_signals(2, 2, 5, motif_size=6)
    with pytest.raises(ValueError, match="nonzeros"):
        sparse_motif_signals(2, 2, 5, nonzeros=6)
    with pytest.raises(ValueError, match="noise"):
        sparse_motif_signals(2, 2, 5, noise=-1.0)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        sparse_motif_signals(0, 2, 5)
