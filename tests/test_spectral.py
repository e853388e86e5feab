"""The spectral ReduNet (redunet_book.spectral) against its literal definition: the vector ReduNet
and the coding rates of the explicit circulant families (float64, tiny sizes)."""
import math

import pytest
import torch

from redunet_book.circulant import circulant_family
from redunet_book.core import membership_matrix, normalize, tolerance
from redunet_book.rate import rate_terms
from redunet_book.spectral import (SpectralReduLayer, SpectralReduNet, apply_operator, frequency_shape,
                                   from_spectral, rate_reduction_circ, rate_terms_circ, scaled_inverse,
                                   spectral_operators, spectral_weights, to_spectral)
from redunet_book.vector import ReduLayer, ReduNet

F64 = dict(dtype=torch.float64)
SHAPES = [(6,), (7,), (3, 4), (3, 3)]


def signals(gen, m, C, shape, **kw):
    "Random unit-norm signals (m, C, *shape)."
    return normalize(torch.randn(m, C, *shape, generator=gen, **(kw or F64)))


def layer_from(Z, Pi, eps_sq=0.5, eta=0.5, lam=2.0, half=True, form="auto"):
    "One spectral layer built from signals Z and a membership matrix Pi."
    shape = tuple(Z.shape[2:])
    ops = spectral_operators(to_spectral(Z, half), Pi, eps_sq, spectral_weights(shape, half, Z.dtype, Z.device),
                             math.prod(shape), form)
    return SpectralReduLayer.from_operators(ops, shape, eta, lam, half)


# ---------------------------------------------------------------- transforms and weights
@pytest.mark.parametrize("shape", [(1,), (2,), (5,), (8,), (4, 6), (5, 5), (2, 3)])
def test_weights_count_every_frequency_once(shape):
    w = spectral_weights(shape, **F64)
    assert w.shape == (math.prod(frequency_shape(shape)),)
    assert float(w.sum()) == math.prod(shape)
    assert float(spectral_weights(shape, half=False, **F64).sum()) == math.prod(shape)


@pytest.mark.parametrize("shape", SHAPES)
def test_half_spectrum_matches_full(gen, shape):
    "Weighted sums (real parts) over the rfftn half spectrum equal sums over the full fftn spectrum."
    Z = torch.randn(4, 3, *shape, generator=gen, **F64)
    Vh, Vf = to_spectral(Z), to_spectral(Z, half=False)
    w = spectral_weights(shape, **F64)
    G_half = torch.einsum("f,mfa,mfb->ab", w.to(Vh.dtype), Vh, Vh.conj())
    G_full = torch.einsum("mfa,mfb->ab", Vf, Vf.conj())
    torch.testing.assert_close(G_half.real, G_full.real)          # G(T - p) = conj G(p): the twins add to 2 Re G(p)
    assert float(G_full.imag.abs().max()) < 1e-12
    for half in (True, False):
        torch.testing.assert_close(from_spectral(to_spectral(Z, half), shape, half), Z)


# ---------------------------------------------------------------- operators of eq. (47)
@pytest.mark.parametrize("s,C", [(2, 5), (5, 2), (4, 4)])
@pytest.mark.parametrize("form", ["auto", "dense"])
def test_scaled_inverse_against_dense_inverse(gen, s, C, form):
    X = torch.randn(3, 2, s, C, generator=gen, dtype=torch.complex128)
    a = torch.rand(3, 2, generator=gen, **F64) + 0.1
    a[0, 0] = 0.0                                                   # an empty class: the operator is 0
    M = torch.eye(C, dtype=X.dtype) + a[..., None, None] * X.mH @ X
    dense = a[..., None, None] * torch.linalg.inv(M)
    op, ld = scaled_inverse(X, a, form)
    rows = torch.randn(3, 2, 4, C, generator=gen, dtype=torch.complex128)
    torch.testing.assert_close(apply_operator(op, a, rows), rows @ dense.mT)
    torch.testing.assert_close(ld, torch.linalg.slogdet(M)[1])
    expect_lowrank = form == "auto" and s < C
    assert op.shape[-2] == (s if expect_lowrank else C)
    assert scaled_inverse(X, a, form, operator=False)[0] is None


def test_scaled_inverse_rejects_bad_form(gen):
    with pytest.raises(ValueError, match="form"):
        scaled_inverse(torch.ones(2, 2, dtype=torch.complex128), torch.ones((), **F64), "sparse")


# ---------------------------------------------------------------- ΔR_circ (eq. 46 / 137)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("half", [True, False])
def test_rates_equal_family_rates_over_T(gen, shape, soft, half):
    Z = signals(gen, 6, 3, shape)
    T = math.prod(shape)
    membership = (torch.softmax(torch.randn(6, 4, generator=gen, **F64), 1) if soft
                  else torch.tensor([0, 0, 1, 1, 1, 3]))              # class 2 empty
    ref = rate_terms(circulant_family(Z), membership.repeat_interleave(T, 0), 0.5, num_classes=4)
    ours = rate_terms_circ(Z, membership, 0.5, num_classes=4, half=half)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b / T, **tolerance(torch.float64))


def test_rate_reduction_circ_dtypes_and_devices(gen, dtype, device):
    Z = signals(gen, 8, 3, (5, 4))
    y = torch.arange(8) % 3
    ref = rate_reduction_circ(Z, y, 0.5)
    got = rate_reduction_circ(Z.to(device=device, dtype=dtype), y.to(device), 0.5)
    assert got.dtype == dtype and got.device.type == device.type
    torch.testing.assert_close(got.cpu().double(), ref, **tolerance(dtype))


def test_rate_reduction_circ_is_shift_invariant(gen):
    Z = signals(gen, 5, 2, (4, 5))
    y = torch.tensor([0, 1, 0, 1, 1])
    shifted = torch.stack([torch.roll(z, (i, 2 * i), (1, 2)) for i, z in enumerate(Z)])
    torch.testing.assert_close(rate_reduction_circ(shifted, y, 0.5), rate_reduction_circ(Z, y, 0.5))


@pytest.mark.parametrize("bad,match", [
    (lambda Z, y: rate_reduction_circ(Z[0], y, 0.5), "dimensions"),
    (lambda Z, y: rate_reduction_circ(Z[..., None, None], y, 0.5), "dimensions"),
    (lambda Z, y: rate_reduction_circ(Z, y, 0.0), "eps_sq"),
    (lambda Z, y: rate_reduction_circ(Z, y[:-1], 0.5), "membership"),
    (lambda Z, y: rate_reduction_circ(Z.int(), y, 0.5), "dtype"),
    (lambda Z, y: rate_reduction_circ(Z * float("nan"), y, 0.5), "NaN"),
    (lambda Z, y: rate_reduction_circ(Z, y - 1, 0.5), "membership must be >= 0"),
])
def test_rate_reduction_circ_bad_input(gen, bad, match):
    Z, y = signals(gen, 4, 2, (5,)), torch.tensor([0, 1, 0, 1])
    with pytest.raises((ValueError, TypeError), match=match):
        bad(Z, y)


# ---------------------------------------------------------------- one layer vs the vector layer on the families
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("half,form", [(True, "auto"), (True, "dense"), (False, "auto"), (False, "dense")])
@pytest.mark.parametrize("m,C", [(6, 4), (3, 5)])               # (3, 5): E itself in Woodbury form
def test_layer_equals_vector_layer_on_families(gen, shape, half, form, m, C):
    Z = signals(gen, m, C, shape)
    y = torch.tensor([0, 0, 0, 1, 1, 2])[:m]
    Pi = membership_matrix(y, m, 4, dtype=Z.dtype)                 # class 3 empty
    T = math.prod(shape)
    layer = layer_from(Z, Pi, half=half, form=form)
    fam, Pi_fam = circulant_family(Z), Pi.repeat_interleave(T, 0)
    ref = ReduLayer.from_features(fam, Pi_fam, 0.5, 0.5, 2.0)
    tol = tolerance(torch.float64)
    E, Cs = layer.signal_matrices()
    torch.testing.assert_close(E, ref.E, **tol)
    torch.testing.assert_close(Cs, ref.C, **tol)
    torch.testing.assert_close(layer.gammas, ref.gammas)
    pi = layer.estimated_membership(Z)
    torch.testing.assert_close(pi.repeat_interleave(T, 0), ref.estimated_membership(fam), **tol)
    assert float(pi[:, 3].max()) == 0                               # the empty class is never chosen
    torch.testing.assert_close(circulant_family(layer(Z)), ref(fam), **tol)
    torch.testing.assert_close(circulant_family(layer(Z, Pi)), ref(fam, Pi_fam), **tol)
    new = signals(gen, 2, C, shape)                                  # evaluation of new signals
    torch.testing.assert_close(circulant_family(layer(new)), ref(circulant_family(new)), **tol)


def test_kernels_are_first_columns_of_the_blocks(gen):
    "Proposition 5: ē[c, c'] is the first column of the circulant block (c, c') of Ē."
    Z = signals(gen, 5, 3, (6,))
    layer = layer_from(Z, membership_matrix(torch.tensor([0, 0, 1, 1, 1]), 5, dtype=Z.dtype))
    e, c = layer.kernels()
    E, Cs = layer.signal_matrices()
    T = 6
    assert e.shape == (3, 3, 6) and c.shape == (2, 3, 3, 6)
    torch.testing.assert_close(e, E.reshape(3, T, 3, T)[:, :, :, 0].permute(0, 2, 1))
    torch.testing.assert_close(c, Cs.reshape(2, 3, T, 3, T)[..., 0].permute(0, 1, 3, 2))


# ---------------------------------------------------------------- the network
def motif_data(gen, m=12, C=3, shape=(8,), k=3):
    "Each class: signals near a class-specific random pattern, circularly shifted at random."
    base = torch.randn(k, C, *shape, generator=gen, **F64)
    y = torch.arange(m) % k
    Z = base[y] + 0.3 * torch.randn(m, C, *shape, generator=gen, **F64)
    shifts = torch.randint(0, shape[-1], (m,), generator=gen)
    Z = torch.stack([torch.roll(z, int(s), -1) for z, s in zip(Z, shifts)])
    return normalize(Z), y


@pytest.mark.parametrize("shape", [(7,), (3, 4)])
@pytest.mark.parametrize("train_update", ["labels", "estimated"])
def test_network_equals_vector_redunet_on_families(gen, shape, train_update):
    Z, y = motif_data(gen, m=6, C=3, shape=shape)
    T = math.prod(shape)
    kw = dict(eta=0.5, eps_sq=0.5, lam=5.0, train_update=train_update)
    net = SpectralReduNet(3, **kw).fit(Z, y)
    ref = ReduNet(3, **kw).fit(circulant_family(Z), y.repeat_interleave(T))
    tol = tolerance(torch.float64)
    torch.testing.assert_close(net.history, ref.history / T, **tol)
    torch.testing.assert_close(circulant_family(net.train_features_), ref.train_features_, **tol)
    new = signals(gen, 4, 3, shape)
    torch.testing.assert_close(circulant_family(net(new)), ref(circulant_family(new)), **tol)
    y_new = torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(net.rate_history(new, y_new, 3), ref.rate_history(circulant_family(new), y_new.repeat_interleave(T), 3) / T, **tol)


@pytest.mark.parametrize("shape", [(9,), (4, 5)])
def test_equivariance_sphere_and_rising_rate(gen, shape):
    Z, y = motif_data(gen, m=15, C=4, shape=shape)
    net = SpectralReduNet(6, eta=0.5, eps_sq=0.5, lam=10.0).fit(Z, y)
    assert bool((net.history[1:, 2] > net.history[:-1, 2]).all())    # ΔR_circ rises layer by layer
    out, path = net(Z, return_history=True)
    assert path.shape == (7,) + tuple(Z.shape)
    torch.testing.assert_close(out.flatten(1).norm(dim=1), torch.ones(15, **F64))
    dims = tuple(range(2, Z.ndim))
    for s in [(1,), (3,)] if len(shape) == 1 else [(1, 2), (3, 0)]:
        torch.testing.assert_close(net(torch.roll(Z, s, dims)), torch.roll(out, s, dims), **tolerance(torch.float64))


def test_half_and_dense_variants_agree(gen):
    Z, y = motif_data(gen, m=6, C=4, shape=(4, 4))
    nets = [SpectralReduNet(2, 0.5, 0.5, 5.0, half=h, form=f).fit(Z, y)
            for h, f in [(True, "auto"), (False, "dense"), (False, "auto"), (True, "dense")]]
    for other in nets[1:]:
        torch.testing.assert_close(other.history, nets[0].history)
        torch.testing.assert_close(other(Z), nets[0](Z))
    assert nets[0].layers[0].C.shape[2] == 2 and nets[3].layers[0].C.shape[2] == 4   # low-rank vs dense storage


def test_state_dict_round_trip(gen, tmp_path):
    Z, y = motif_data(gen, m=9, C=4, shape=(3, 4))
    net = SpectralReduNet(3, 0.5, 0.5, 5.0).fit(Z, y)
    torch.save(net.state_dict(), tmp_path / "net.pt")
    new = SpectralReduNet(3, 0.5, 0.5, 5.0)
    new.load_state_dict(torch.load(tmp_path / "net.pt"))
    torch.testing.assert_close(new(Z), net(Z), rtol=0, atol=0)
    torch.testing.assert_close(new.history, net.history)
    with pytest.raises(ValueError, match="history"):
        SpectralReduNet(3, 0.5, 0.5, 5.0).load_state_dict({})


def test_determinism_and_empty_class(gen):
    Z, y = motif_data(gen, m=8, C=3, shape=(6,), k=2)
    a = SpectralReduNet(3, 0.5, 0.5, 5.0).fit(Z, y, num_classes=3)
    b = SpectralReduNet(3, 0.5, 0.5, 5.0).fit(Z, y, num_classes=3)
    torch.testing.assert_close(a(Z), b(Z), rtol=0, atol=0)
    assert float(a.layers[0].gammas[2]) == 0 and float(a.layers[0].C[2].abs().max()) == 0
    assert float(a.layers[0].estimated_membership(Z)[:, 2].max()) == 0


def test_min_gain_stops(gen):
    Z, y = motif_data(gen, m=9, C=3, shape=(5,))
    net = SpectralReduNet(50, 0.5, 0.5, 5.0, min_gain=1e-3).fit(Z, y)
    assert 0 < len(net.layers) < 50 and net.history.shape == (len(net.layers) + 1, 3)
    assert float(net.history[-1, 2] - net.history[-2, 2]) >= 1e-3


def test_network_dtypes_and_devices(gen, dtype, device):
    Z, y = motif_data(gen, m=9, C=3, shape=(4, 4))
    ref = SpectralReduNet(2, 0.5, 0.5, 5.0).fit(Z, y)
    net = SpectralReduNet(2, 0.5, 0.5, 5.0).fit(Z.to(device=device, dtype=dtype), y.to(device))
    out = net(Z.to(device=device, dtype=dtype))
    assert out.dtype == dtype and out.device.type == device.type
    assert net.layers[0].E.dtype == (torch.complex64 if dtype == torch.float32 else torch.complex128)
    torch.testing.assert_close(out.cpu().double(), ref(Z), **tolerance(dtype))
    torch.testing.assert_close(net.history.cpu().double(), ref.history, **tolerance(dtype))


@pytest.mark.parametrize("other", [dict(eta=0.3), dict(lam=2.0), dict(half=False), dict(form="dense"),
                                   dict(train_update="estimated")], ids=lambda d: next(iter(d)))
def test_spectral_state_keeps_the_settings(gen, other):
    Z, y = motif_data(gen, m=6, C=3, shape=(5,))
    base = dict(num_layers=2, eta=0.5, eps_sq=0.5, lam=5.0)
    net = SpectralReduNet(**base).fit(Z, y)
    state = net.state_dict()
    with pytest.raises(ValueError, match=f"{next(iter(other))}: saved"):
        SpectralReduNet(**{**base, **other}).load_state_dict(state)
    assert torch.equal(SpectralReduNet.from_state_dict(state)(Z), net(Z))
    with pytest.raises(TypeError, match="Z has dtype"):
        net(Z.float() if Z.dtype == torch.float64 else Z.double())


def test_network_bad_input(gen):
    Z, y = motif_data(gen, m=6, C=3, shape=(5,))
    with pytest.raises(ValueError, match="form"):
        SpectralReduNet(2, 0.5, 0.5, 5.0, form="sparse")
    with pytest.raises(TypeError, match="half"):
        SpectralReduNet(2, 0.5, 0.5, 5.0, half="yes")
    with pytest.raises(ValueError, match="eps_sq"):
        SpectralReduNet(2, 0.5, -1.0, 5.0)
    with pytest.raises(RuntimeError, match="fit"):
        SpectralReduNet(2, 0.5, 0.5, 5.0)(Z)
    net = SpectralReduNet(2, 0.5, 0.5, 5.0).fit(Z, y)
    with pytest.raises(ValueError, match="shape"):
        net(Z[:, :2])
    with pytest.raises(ValueError, match="shape"):
        net(Z[..., :4])
    with pytest.raises(ValueError, match="membership"):
        SpectralReduNet(2, 0.5, 0.5, 5.0).fit(Z, y[:-1])
    with pytest.raises(ValueError, match="dimensions"):
        SpectralReduNet(2, 0.5, 0.5, 5.0).fit(Z.flatten(1), y)


# ---------------------------------------------------------------- gradient (Theorems 6 and 17), classifier, figure
@pytest.mark.parametrize("shape", [(7,), (3, 4)])
def test_gradient_is_the_layer_increment(gen, shape):
    "∂ΔR_circ/∂z̄ᵢ = ē ⊛ z̄ᵢ − Σⱼ γⱼπᵢⱼ c̄ʲ ⊛ z̄ᵢ (eqs. 50-51, 150-151), against autograd in float64."
    Z = signals(gen, 6, 3, shape).requires_grad_()
    membership = torch.softmax(torch.randn(6, 3, generator=gen, **F64), 1)
    rate_reduction_circ(Z, membership, 0.5).backward()
    Zd = Z.detach()
    layer = layer_from(Zd, membership)
    torch.testing.assert_close(from_spectral(layer.increment(to_spectral(Zd), membership), shape), Z.grad,
                               **tolerance(torch.float64))


def test_invariant_nearest_subspace_is_shift_invariant(gen):
    from redunet_book.spectral import invariant_nearest_subspace
    Z, y = motif_data(gen, m=12, C=3, shape=(3, 4))
    test = signals(gen, 5, 3, (3, 4))
    pred = invariant_nearest_subspace(Z, y, test, 2)
    shifted = torch.stack([torch.roll(z, (i, 2 * i), (1, 2)) for i, z in enumerate(test)])
    assert torch.equal(invariant_nearest_subspace(Z, y, shifted, 2, chunk=1), pred)
    assert torch.equal(invariant_nearest_subspace(Z, y, Z, 2), y)     # the training signals themselves
    with pytest.raises(ValueError, match="dimensions"):
        invariant_nearest_subspace(Z.flatten(1), y, test, 2)


def test_plot_kernels(gen):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from redunet_book.viz import plot_kernels
    for shape in [(6,), (3, 4)]:
        Z = signals(gen, 5, 3, shape)
        layer = layer_from(Z, membership_matrix(torch.tensor([0, 0, 1, 1, 1]), 5, dtype=Z.dtype))
        e, c = layer.kernels()
        assert isinstance(plot_kernels(e, title="e", mask_self=True), Figure)
        assert isinstance(plot_kernels(c[1], max_channels=2), Figure)
    with pytest.raises(ValueError, match="kernels"):
        plot_kernels(torch.zeros(2, 3, 4))


def test_scaled_inverse_falls_back_to_float64(gen, monkeypatch):
    "When the float32 Cholesky reports a failure, the operator is recomputed in float64 and cast back."
    X = torch.randn(4, 3, 5, generator=gen, dtype=torch.complex64)
    a = torch.rand(4, generator=gen) + 0.5
    ref_op, ref_ld = scaled_inverse(X.to(torch.complex128), a.double())
    real = torch.linalg.cholesky_ex
    def failing(A, **kw):
        L, info = real(A, **kw)
        return (L, torch.ones_like(info)) if A.dtype == torch.complex64 else (L, info)
    monkeypatch.setattr(torch.linalg, "cholesky_ex", failing)
    op, ld = scaled_inverse(X, a)
    assert op.dtype == torch.complex64 and ld.dtype == torch.float32
    torch.testing.assert_close(op, ref_op.to(torch.complex64))
    torch.testing.assert_close(ld, ref_ld.float())


@pytest.mark.parametrize("shape", [(8,), (4, 6)])
def test_spectral_construct_and_map_is_fit_then_forward(shape):
    "The one-pass construction and evaluation of 1D and 2D signals equals fit + forward at every requested depth."
    g = torch.Generator().manual_seed(4)
    X = torch.randn(10, 3, *shape, dtype=torch.float64, generator=g)
    y = torch.arange(10) % 2
    Q = torch.randn(5, 3, *shape, dtype=torch.float64, generator=g)
    net = SpectralReduNet(4, 0.5, 0.1, 50.0).fit(X, y)
    _, path = net(Q, return_history=True)
    out, history = SpectralReduNet(4, 0.5, 0.1, 50.0).construct_and_map(X, y, [Q], at=[1])
    assert set(out) == {1, 4}
    for d in out:
        torch.testing.assert_close(out[d][0], path[d], rtol=0, atol=1e-12)
    torch.testing.assert_close(history, net.history, rtol=0, atol=1e-12)
