"""Tests of the vector ReduNet (nbs/04_vector_redunet.ipynb): Algorithms 1–2 against literal loops, eqs. (23)–(27)."""
import io
import math

import pytest
import torch

from redunet_book.core import make_generator
from redunet_book.data import subspace_samples
from redunet_book.operators import literal_compression_operators, literal_expansion_operator
from redunet_book.rate import rate_reduction
from redunet_book.vector import (ReduNet, class_responses, path_rates, relu_residual, soft_membership,
                                 softmax_residual)

F64 = torch.float64


def _data(seed=0, n=6, dims=(1, 2, 1), per=12, noise=0.2, orthogonal=True):
    "A small float64 problem: noisy subspaces in R^n, rows on the sphere."
    return subspace_samples(list(dims), n, per, orthogonal=orthogonal, noise=noise, generator=make_generator(seed))


def _one_hot(y, k):
    return torch.nn.functional.one_hot(y, k).to(F64)


def _unit_columns(Zp):
    return Zp / Zp.norm(dim=0, keepdim=True)


def literal_algorithm1(X, y, k, L, eta, eps_sq, lam=None):
    "Algorithm 1 loop by loop with dense inverses, paper convention Z (n, m); true Π if lam is None, else π̂ (eq. 23) per sample."
    Pi = _one_hot(y, k)
    Zp = _unit_columns(X.T.clone())
    n, m = Zp.shape
    for _ in range(L):
        E = literal_expansion_operator(Zp.T, eps_sq)
        C = literal_compression_operators(Zp.T, Pi, eps_sq)
        gam = [float(Pi[:, j].sum()) / m for j in range(k)]
        if lam is None:
            g = E @ Zp
            for j in range(k):
                g = g - gam[j] * C[j] @ Zp @ torch.diag(Pi[:, j])
            Zp = _unit_columns(Zp + eta * g)
        else:
            new = torch.empty_like(Zp)
            for i in range(m):
                z = Zp[:, i]
                w = torch.tensor([math.exp(-lam * float((C[j] @ z).norm())) for j in range(k)], dtype=F64)
                pihat = w / w.sum()
                g = E @ z - sum(gam[j] * (C[j] @ z) * pihat[j] for j in range(k))
                zn = z + eta * g
                new[:, i] = zn / zn.norm()
            Zp = new
    return Zp.T


def literal_algorithm2(net, x, relu=False):
    "Algorithm 2 for one sample x (n,) through the stored operators, with explicit loops over classes."
    z = x / x.norm()
    for layer in net.layers:
        E, C, gam, a = layer.E, layer.C, layer.gammas, float(layer.alpha)
        k = C.shape[0]
        if relu:
            P = [z - (C[j] @ z) * float(gam[j]) / a for j in range(k)]        # Pʲ = I − Cʲ/αⱼ, αⱼ = α/γⱼ
            sigma = a * (z - sum(torch.clamp(p, min=0) for p in P))
        else:
            w = torch.stack([torch.exp(-net.lam * (C[j] @ z).norm()) for j in range(k)])
            pihat = w / w.sum()
            sigma = sum(gam[j] * (C[j] @ z) * pihat[j] for j in range(k))
        zn = z + net.eta * (E @ z - sigma)
        z = zn / zn.norm()
    return z


def test_construction_matches_literal_algorithm1_true_labels():
    X, y = _data()
    net = ReduNet(num_layers=5, eta=0.5, eps_sq=0.5, lam=100.0).fit(X, y)
    ref = literal_algorithm1(X, y, 3, 5, 0.5, 0.5)
    torch.testing.assert_close(net.train_features_, ref, rtol=0, atol=1e-10)
    assert len(net.layers) == 5 and net.history.shape == (6, 3)
    torch.testing.assert_close(net.history[-1, 2], rate_reduction(ref, y, 0.5), rtol=0, atol=1e-10)


def test_construction_matches_literal_algorithm1_estimated():
    X, y = _data(seed=1)
    net = ReduNet(4, eta=0.5, eps_sq=0.5, lam=20.0, train_update="estimated").fit(X, y)
    ref = literal_algorithm1(X, y, 3, 4, 0.5, 0.5, lam=20.0)
    torch.testing.assert_close(net.train_features_, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("nonlinearity", ["softmax", "relu"])
def test_forward_matches_literal_algorithm2(nonlinearity):
    X, y = _data(seed=2)
    net = ReduNet(4, eta=0.5, eps_sq=0.5, lam=10.0, nonlinearity=nonlinearity).fit(X, y)
    Xt, _ = _data(seed=3)
    out = net(Xt)
    ref = torch.stack([literal_algorithm2(net, x, relu=nonlinearity == "relu") for x in Xt])
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(len(Xt), dtype=F64), rtol=0, atol=1e-12)


def test_large_lambda_reproduces_training_features():
    X, y = _data(seed=4, noise=0.05)
    net = ReduNet(6, eta=0.5, eps_sq=0.5, lam=500.0).fit(X, y)
    torch.testing.assert_close(net(X), net.train_features_, rtol=0, atol=1e-8)
    est = net.layers[0].estimated_membership(X / X.norm(dim=1, keepdim=True))
    assert (est.argmax(1) == y).all()


def test_rate_reduction_rises_for_small_eta():
    X, y = _data(seed=5, per=20)
    net = ReduNet(15, eta=0.1, eps_sq=0.5, lam=100.0).fit(X, y)
    dR = net.history[:, 2]
    assert (dR[1:] - dR[:-1] > 0).all()
    torch.testing.assert_close(net.history[:, 2], net.history[:, 0] - net.history[:, 1])
    hist = net.rate_history(X, y)                                  # same labels, estimated memberships
    assert hist.shape == (16, 3) and float(hist[-1, 2]) > float(hist[0, 2])
    _, path = net(X, return_history=True)
    torch.testing.assert_close(path_rates(path, y, 0.5), hist, rtol=0, atol=0)
    torch.testing.assert_close(path_rates(path, y, 0.5)[-1, 2], rate_reduction(path[-1], y, 0.5))


def test_min_gain_stops_early():
    X, y = _data(seed=6)
    full = ReduNet(40, eta=0.5, eps_sq=0.5, lam=100.0).fit(X, y)
    short = ReduNet(40, eta=0.5, eps_sq=0.5, lam=100.0, min_gain=1e-2).fit(X, y)
    assert 0 < len(short.layers) < 40 and short.history.shape == (len(short.layers) + 1, 3)
    gains = short.history[1:, 2] - short.history[:-1, 2]
    assert (gains >= 1e-2).all()
    torch.testing.assert_close(short.history, full.history[: len(short.layers) + 1])


def test_batched_pieces_match_loops(gen):
    Z = torch.randn(7, 4, generator=gen, dtype=F64)
    C = torch.randn(3, 4, 4, generator=gen, dtype=F64)
    C = C + C.mT
    R = class_responses(Z, C)
    for i in range(7):
        for j in range(3):
            torch.testing.assert_close(R[i, j], C[j] @ Z[i])
    P = soft_membership(R, 2.0, torch.tensor([True, False, True]))
    assert (P[:, 1] == 0).all()
    torch.testing.assert_close(P.sum(1), torch.ones(7, dtype=F64))
    g = torch.tensor([0.5, 0.0, 0.5], dtype=F64)
    torch.testing.assert_close(softmax_residual(R, g, P)[3], 0.5 * (R[3, 0] * P[3, 0] + R[3, 2] * P[3, 2]))
    assert relu_residual(Z, R, torch.tensor([2.0, 0.0, 2.0], dtype=F64), 1.0).shape == (7, 4)


def test_deterministic_and_dtype(dtype):
    X, y = _data(seed=7)
    X = X.to(dtype)
    a = ReduNet(3, 0.5, 0.5, 10.0).fit(X, y)
    b = ReduNet(3, 0.5, 0.5, 10.0).fit(X, y)
    assert torch.equal(a.train_features_, b.train_features_) and torch.equal(a(X), b(X))
    assert a(X).dtype == dtype and a.layers[0].E.dtype == dtype


@pytest.mark.parametrize("nonlinearity", ["softmax", "relu"])
def test_state_dict_round_trip(nonlinearity):
    X, y = _data(seed=8)
    net = ReduNet(4, 0.5, 0.5, 10.0, nonlinearity=nonlinearity).fit(X, y)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    buf.seek(0)
    fresh = ReduNet(4, 0.5, 0.5, 10.0, nonlinearity=nonlinearity)
    fresh.load_state_dict(torch.load(buf))
    assert len(fresh.layers) == 4 and torch.equal(fresh.history, net.history)
    Xt, _ = _data(seed=9)
    assert torch.equal(fresh(Xt), net(Xt))
    assert sum(p.numel() for p in net.parameters()) == 0       # built, not trained: buffers only


SETTINGS = [dict(eta=0.3), dict(lam=3.0), dict(nonlinearity="relu"), dict(accelerated=True), dict(beta=0.5),
            dict(train_update="estimated"), dict(eps_sq=0.4), dict(num_layers=5), dict(min_gain=1e-3)]


@pytest.mark.parametrize("other", SETTINGS, ids=lambda d: next(iter(d)))
def test_state_keeps_the_settings_and_refuses_a_mismatch(other):
    "Issue 14: a state loaded into a net built with other settings used to be accepted, with different outputs."
    X, y = _data(seed=8)
    base = dict(num_layers=4, eta=0.5, eps_sq=0.5, lam=10.0)
    net = ReduNet(**base).fit(X, y)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf)                                    # the default weights_only loader accepts the settings
    with pytest.raises(ValueError, match=f"{next(iter(other))}: saved"):
        ReduNet(**{**base, **other}).load_state_dict(state)
    again = ReduNet.from_state_dict(state)
    assert again.config() == net.config()
    Xt, _ = _data(seed=9)
    assert torch.equal(again(Xt), net(Xt))


def test_forward_refuses_another_dtype():
    X, y = _data(seed=8)
    net = ReduNet(2, 0.5, 0.5, 10.0).fit(X.double(), y)
    with pytest.raises(TypeError, match="Z has dtype torch.float32"):
        net(X.float())
    assert net.to(torch.float32)(X.float()).dtype == torch.float32      # converting the net is the way


def test_soft_membership_does_not_overflow():
    "λ‖Cʲz‖ beyond float32: the memberships stay on the simplex (they were NaN)."
    from redunet_book.vector import soft_membership
    r = torch.full((2, 3, 4), 1e30)
    r[:, 1] = 1e29
    pi = soft_membership(r, 1e10)
    assert torch.isfinite(pi).all()
    torch.testing.assert_close(pi, torch.tensor([[0.0, 1.0, 0.0]] * 2))
    r = torch.randn(5, 3, 4, dtype=torch.float64)
    torch.testing.assert_close(soft_membership(r, 2.0), torch.softmax(-2.0 * r.norm(dim=-1), -1))


def test_device(device):
    X, y = _data(seed=10)
    net = ReduNet(2, 0.5, 0.5, 10.0).fit(X.to(device), y.to(device))
    assert net(X.to(device)).device.type == device.type


def test_bad_input():
    X, y = _data(seed=11)
    with pytest.raises(RuntimeError, match="fit"):
        ReduNet(2, 0.5, 0.5, 10.0)(X)
    with pytest.raises(ValueError, match="eta"):
        ReduNet(2, 0.0, 0.5, 10.0)
    with pytest.raises(ValueError, match="eps_sq"):
        ReduNet(2, 0.5, -1.0, 10.0)
    with pytest.raises(ValueError, match="lam"):
        ReduNet(2, 0.5, 0.5, float("nan"))
    with pytest.raises(ValueError, match="num_layers"):
        ReduNet(-1, 0.5, 0.5, 10.0)
    with pytest.raises(ValueError, match="nonlinearity"):
        ReduNet(2, 0.5, 0.5, 10.0, nonlinearity="tanh")
    with pytest.raises(ValueError, match="train_update"):
        ReduNet(2, 0.5, 0.5, 10.0, train_update="oracle")
    net = ReduNet(2, 0.5, 0.5, 10.0)
    with pytest.raises(ValueError, match="membership"):
        net.fit(X, y[:-1])
    with pytest.raises(TypeError, match="Z"):
        net.fit(X.numpy(), y)
    net.fit(X, y)
    with pytest.raises(ValueError, match="features per sample"):
        net(X[:, :4])
    with pytest.raises(ValueError, match="NaN"):
        net(torch.full_like(X, float("nan")))
    with pytest.raises(ValueError, match="history"):
        ReduNet(2, 0.5, 0.5, 10.0).load_state_dict({})


def test_empty_class_is_ignored():
    X, y = _data(seed=12)
    net = ReduNet(3, 0.5, 0.5, 10.0).fit(X, y, num_classes=5)
    ref = ReduNet(3, 0.5, 0.5, 10.0).fit(X, y)
    torch.testing.assert_close(net.train_features_, ref.train_features_, rtol=0, atol=1e-12)
    torch.testing.assert_close(net(X), ref(X), rtol=0, atol=1e-12)


def literal_accelerated(X, y, k, L, eta, eps_sq, beta):
    "Eq. (28) loop by loop, paper convention Z (n, m): q = z_ℓ + β(z_ℓ − z_{ℓ−1}), operators from q, z_{ℓ+1} = P_S(q + η g(q))."
    Pi = _one_hot(y, k)
    Zp = _unit_columns(X.T.clone())
    prev = Zp.clone()
    n, m = Zp.shape
    for _ in range(L):
        Q = Zp + beta * (Zp - prev)
        E = literal_expansion_operator(Q.T, eps_sq)
        C = literal_compression_operators(Q.T, Pi, eps_sq)
        g = E @ Q
        for j in range(k):
            g = g - float(Pi[:, j].sum()) / m * C[j] @ Q @ torch.diag(Pi[:, j])
        prev, Zp = Zp, _unit_columns(Q + eta * g)
    return Zp.T


def literal_accelerated_forward(net, x):
    "Algorithm 2 with the skip connections of eq. (28), for one sample x (n,), explicit loops over classes."
    z = x / x.norm()
    prev = z
    for layer in net.layers:
        q = z + net.beta * (z - prev)
        w = torch.stack([torch.exp(-net.lam * (layer.C[j] @ q).norm()) for j in range(layer.C.shape[0])])
        pihat = w / w.sum()
        sigma = sum(layer.gammas[j] * (layer.C[j] @ q) * pihat[j] for j in range(layer.C.shape[0]))
        zn = q + net.eta * (layer.E @ q - sigma)
        prev, z = z, zn / zn.norm()
    return z


def test_accelerated_matches_literal_eq28():
    X, y = _data(seed=11)
    net = ReduNet(6, eta=0.5, eps_sq=0.5, lam=10.0, accelerated=True, beta=0.7).fit(X, y)
    ref = literal_accelerated(X, y, 3, 6, 0.5, 0.5, 0.7)
    torch.testing.assert_close(net.train_features_, ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(net.history[-1, 2], rate_reduction(ref, y, 0.5), rtol=0, atol=1e-10)
    Xt, _ = _data(seed=12)
    out = net(Xt)
    torch.testing.assert_close(out, torch.stack([literal_accelerated_forward(net, x) for x in Xt]), rtol=0, atol=1e-10)
    plain = ReduNet(6, eta=0.5, eps_sq=0.5, lam=10.0).fit(X, y)
    assert not torch.allclose(plain.train_features_, net.train_features_)   # the skip connections do something
    zero = ReduNet(6, eta=0.5, eps_sq=0.5, lam=10.0, accelerated=True, beta=0.0).fit(X, y)
    torch.testing.assert_close(zero.train_features_, plain.train_features_, rtol=0, atol=0)


def test_accelerated_state_dict_round_trip():
    X, y = _data(seed=13)
    net = ReduNet(5, 0.5, 0.5, 10.0, accelerated=True, beta=0.8).fit(X, y)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    buf.seek(0)
    fresh = ReduNet(5, 0.5, 0.5, 10.0, accelerated=True, beta=0.8)
    fresh.load_state_dict(torch.load(buf))
    Xt, _ = _data(seed=14)
    assert torch.equal(fresh.history, net.history) and torch.equal(fresh(Xt), net(Xt))


def test_accelerated_bad_arguments():
    with pytest.raises(ValueError, match="beta"):
        ReduNet(3, 0.5, 0.5, 1.0, accelerated=True, beta=1.0)
    with pytest.raises(ValueError, match="beta"):
        ReduNet(3, 0.5, 0.5, 1.0, accelerated=True, beta=-0.1)
    with pytest.raises(TypeError, match="accelerated"):
        ReduNet(3, 0.5, 0.5, 1.0, accelerated=1)


def test_membership_residual_matches_all_responses(gen):
    from redunet_book.vector import class_responses, membership_residual, softmax_residual
    from redunet_book.operators import gradient_operators
    Z = torch.nn.functional.normalize(torch.randn(23, 5, generator=gen, dtype=torch.float64), dim=1)
    y = torch.tensor([0] * 10 + [2] * 13)                      # class 1 is empty
    ops = gradient_operators(Z, y, 0.3, num_classes=3)
    hard = torch.nn.functional.one_hot(y, 3).double()
    soft = torch.softmax(torch.randn(23, 3, generator=gen, dtype=torch.float64), 1)
    for P in (hard, soft):
        torch.testing.assert_close(membership_residual(Z, ops.C, ops.gammas, P),
                                   softmax_residual(class_responses(Z, ops.C), ops.gammas, P), rtol=0, atol=1e-13)


def test_layers_to_reach():
    from redunet_book.vector import layers_to_reach
    h = torch.tensor([[0.0, 0.0, 0.1], [0.0, 0.0, 0.5], [0.0, 0.0, 0.9]])
    assert layers_to_reach(h, 0.5) == 1 and layers_to_reach(h, 0.1) == 0 and layers_to_reach(h, 1.0) is None


def test_trim_memory_changes_nothing_but_memory():
    "fit(..., trim_memory=True) hands freed memory back to the OS after each layer; the network is the same."
    from redunet_book.core import release_freed_memory
    X, y = _data(seed=8)
    a = ReduNet(3, 0.5, 0.5, 10.0).fit(X, y)
    b = ReduNet(3, 0.5, 0.5, 10.0).fit(X, y, trim_memory=True)
    assert torch.equal(a.history, b.history) and torch.equal(a(X), b(X))
    assert isinstance(release_freed_memory(), bool)
    with pytest.raises(TypeError, match="trim_memory"):
        ReduNet(3, 0.5, 0.5, 10.0).fit(X, y, trim_memory="yes")

def test_soft_membership_of_complex_responses_is_the_literal_softmax():
    "Complex (spectral) responses: the fast (re, im) path equals softmax(−λ‖Cʲz‖) with the complex norm, also at huge λ·‖·‖."
    g = torch.Generator().manual_seed(3)
    r = torch.randn(7, 3, 5, dtype=torch.complex128, generator=g)
    torch.testing.assert_close(soft_membership(r, 2.0), torch.softmax(-2.0 * r.abs().pow(2).sum(-1).sqrt(), -1))
    torch.testing.assert_close(soft_membership(r.mT.mT, 2.0), soft_membership(r.clone(), 2.0))  # non-contiguous input
    big = soft_membership(r * 1e30, 1e10)
    assert torch.isfinite(big).all() and torch.allclose(big.sum(-1), torch.ones(7, dtype=torch.float64))


@pytest.mark.parametrize("kw", [dict(), dict(accelerated=True), dict(min_gain=1e-3), dict(nonlinearity="relu")])
def test_construct_and_map_is_fit_then_forward(kw):
    "One pass without stored layers gives the features of fit + forward at every requested depth, and the same history."
    from redunet_book.data import subspace_samples
    X, y = subspace_samples([2, 2, 1], 6, 12, noise=0.05, generator=torch.Generator().manual_seed(1))
    X = X.double()
    Q = torch.randn(9, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    net = ReduNet(6, 0.5, 0.1, 20.0, **kw).fit(X, y)
    _, path = net(Q, return_history=True)
    _, path_tr = net(X, return_history=True)
    out, history = ReduNet(6, 0.5, 0.1, 20.0, **kw).construct_and_map(X, y, [Q, X], at=(0, 2))
    L = len(net.layers)
    assert set(out) == {0, 2, L}
    for d in out:
        torch.testing.assert_close(out[d][0], path[d], rtol=0, atol=1e-12)
        torch.testing.assert_close(out[d][1], path_tr[d], rtol=0, atol=1e-12)
    torch.testing.assert_close(history, net.history, rtol=0, atol=1e-12)


def test_construct_and_map_checks_its_inputs():
    X, y = torch.randn(8, 4, dtype=torch.float64), torch.arange(8) % 2
    net = ReduNet(2, 0.5, 0.1, 20.0)
    with pytest.raises(ValueError, match="inputs"):
        net.construct_and_map(X, y, [torch.randn(3, 5, dtype=torch.float64)])
    with pytest.raises(TypeError, match="inputs"):
        net.construct_and_map(X, y, [X.float()])
    with pytest.raises(TypeError, match="inputs"):
        net.construct_and_map(X, y, X)
    with pytest.raises(ValueError, match="at"):
        net.construct_and_map(X, y, [X], at=(3,))
    with pytest.raises(TypeError, match="at"):
        net.construct_and_map(X, y, [X], at=2)
    with pytest.raises(ValueError, match="inputs"):
        net.construct_and_map(X, y, [torch.full((2, 4), float("nan"), dtype=torch.float64)])


# ReduNet §3.4: one layer as a residual block with k + 1 parallel linear branches and a softmax gate.
def test_residual_branches_compute_the_layer(dtype):
    from redunet_book.vector import ResidualBranches
    X, y = subspace_samples([1, 2, 1], 6, 12, orthogonal=False, noise=0.2, generator=make_generator(11), dtype=dtype)
    net = ReduNet(3, eta=0.5, eps_sq=0.2, lam=30.0).fit(X, y)
    Xn = subspace_samples([1, 2, 1], 6, 5, orthogonal=False, noise=0.2, generator=make_generator(12), dtype=dtype)[0]
    tol = dict(rtol=0, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    Z = Xn
    for layer in net.layers:
        block = ResidualBranches.from_layer(layer)
        assert block.expand.weight.dtype == dtype and len(block.compress) == 3
        torch.testing.assert_close(block(Z), layer(Z), **tol)
        Z = layer(Z)
    # a state_dict round trip keeps the map; the branches are parameters
    again = ResidualBranches(6, 3, 0.5, 30.0, dtype=dtype)
    again.load_state_dict(block.state_dict())
    torch.testing.assert_close(again(Xn), block(Xn))
    assert {name for name, _ in block.named_parameters()} == {"expand.weight", *(f"compress.{j}.weight" for j in range(3))}


def test_residual_branches_bad_input():
    from redunet_book.vector import ReduLayer, ResidualBranches
    with pytest.raises(TypeError, match="layer must be a ReduLayer"):
        ResidualBranches.from_layer(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="softmax"):
        ResidualBranches.from_layer(ReduLayer(3, 2, 0.5, 10.0, nonlinearity="relu"))
    with pytest.raises(ValueError, match="eta"):
        ResidualBranches(3, 2, 0.0, 10.0)
