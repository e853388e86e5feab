"""Tests of CRATE (nbs/08a_crate.ipynb): the compression term, its exact and first-order gradients, MSSA and the
compression step, the ISTA step, and the model (a layer against its literal statement, save/load, dtypes, devices)."""
import io

import pytest
import torch

from redunet_book.crate import (CRATE, CRATELayer, ISTA, MSSA, PatchEmbedding, compression_step, first_order_gradient,
                                first_order_scale, ista_step, lasso_objective, mssa, sparse_rate_reduction, subspace_attention,
                                subspace_coding_rate, subspace_rate_gradient)
from redunet_book.rate import coding_rate

F64 = torch.float64


def literal_rc(Z, U, eps_sq):
    "Σₖ ½ log det(I_N + p/(Nε²)(UₖᵀZ)ᵀ(UₖᵀZ)), the paper's columns, one subspace at a time."
    Zp, N = Z.T, Z.shape[0]
    return sum(0.5 * torch.linalg.slogdet(torch.eye(N, dtype=Z.dtype) + Uk.shape[1] / (N * eps_sq) * (Uk.T @ Zp).T @ (Uk.T @ Zp))[1]
               for Uk in U)


def literal_mssa(Z, U, eps_sq, tau):
    "p/(Nε²) Σₖ Uₖ(UₖᵀZ)softmax_columns(τ(UₖᵀZ)ᵀ(UₖᵀZ)), rows out."
    Zp, N = Z.T, Z.shape[0]
    out = torch.zeros_like(Zp)
    for Uk in U:
        W = Uk.T @ Zp
        out = out + Uk @ W @ torch.softmax(tau * W.T @ W, dim=0)
    return (U.shape[2] / (N * eps_sq) * out).T


def data(N=9, d=6, K=3, p=2, B=None, dtype=F64, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (N, d) if B is None else (B, N, d)
    return torch.randn(*shape, generator=g).to(dtype), torch.randn(K, d, p, generator=g).to(dtype)


@pytest.mark.parametrize("N,d,K,p", [(9, 6, 3, 2), (3, 8, 2, 5), (12, 4, 1, 4)])
def test_rate_and_gradients_match_literal_and_autograd(N, d, K, p):
    Z, U = data(N, d, K, p)
    torch.testing.assert_close(subspace_coding_rate(Z, U, 0.4), literal_rc(Z, U, 0.4))
    Zg = Z.clone().requires_grad_()
    literal_rc(Zg, U, 0.4).backward()
    torch.testing.assert_close(subspace_rate_gradient(Z, U, 0.4), Zg.grad)
    R = 0.5 * torch.linalg.slogdet(torch.eye(d, dtype=F64) + d / (N * 0.4) * Z.T @ Z)[1]
    torch.testing.assert_close(sparse_rate_reduction(Z, U, 0.4, 0.01), R - literal_rc(Z, U, 0.4) - 0.01 * (Z != 0).sum())


def test_batches_match_single_sets_and_rate_reduces_to_R():
    Z, U = data(B=4)
    torch.testing.assert_close(subspace_coding_rate(Z, U, 0.5), torch.stack([literal_rc(z, U, 0.5) for z in Z]))
    torch.testing.assert_close(subspace_rate_gradient(Z, U, 0.5)[2], subspace_rate_gradient(Z[2], U, 0.5))
    torch.testing.assert_close(subspace_coding_rate(Z[0], torch.eye(6, dtype=F64)[None], 0.5), coding_rate(Z[0], 0.5))


def test_first_order_error_is_bounded_by_t_squared():
    g = torch.Generator().manual_seed(3)
    U = torch.linalg.qr(torch.randn(6, 6, dtype=F64, generator=g))[0].reshape(6, 3, 2).permute(1, 0, 2)
    Z = torch.randn(10, 6, dtype=F64, generator=g)
    for s in (0.01, 0.1, 0.5, 2.0):
        exact, approx = subspace_rate_gradient(s * Z, U, 0.5), first_order_gradient(s * Z, U, 0.5)
        t = float(first_order_scale(s * Z, U, 0.5).max())
        assert float((approx - exact).norm() / exact.norm()) <= t ** 2 * (1 + 1e-9)
    W = torch.einsum("nd,kdp->knp", Z, U)
    lit = sum(Uk @ (b * (Wk.T - b * Wk.T @ (Wk @ Wk.T))) for Uk, Wk, b in zip(U, W, [2 / (10 * 0.5)] * 3)).T
    torch.testing.assert_close(first_order_gradient(Z, U, 0.5), lit)


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_mssa_and_compression_step_match_literal(tau):
    Z, U = data(B=2)
    torch.testing.assert_close(mssa(Z, U, 0.5, tau)[1], literal_mssa(Z[1], U, 0.5, tau))
    c = 0.2 * 2 / (9 * 0.5)
    torch.testing.assert_close(compression_step(Z, U, 0.2, 0.5, tau)[0], (1 - c) * Z[0] + c * literal_mssa(Z[0], U, 0.5, tau))
    A = subspace_attention(Z, U, tau)
    assert A.shape == (2, 3, 9, 9) and (A >= 0).all()
    torch.testing.assert_close(A.sum(-1), torch.ones(2, 3, 9, dtype=F64))


def test_ista_is_the_prox_step_and_descends_for_small_steps():
    g = torch.Generator().manual_seed(5)
    X, D, Z0 = torch.randn(7, 5, dtype=F64, generator=g), torch.randn(5, 5, dtype=F64, generator=g), torch.rand(7, 5, dtype=F64, generator=g)
    L = float(torch.linalg.matrix_norm(D, 2) ** 2)
    step = ista_step(Z0, D, 1 / L, 0.2, X)
    v = Z0 + (1 / L) * (X - Z0 @ D.T) @ D
    torch.testing.assert_close(step, torch.clamp(v - 0.2 / L, min=0))
    # KKT of argmin_{z>=0} ½(z − v)² + (λ/L) z: z > 0 ⇒ z = v − λ/L; z = 0 ⇒ v ≤ λ/L
    assert torch.allclose(step[step > 0], (v - 0.2 / L)[step > 0]) and (v[step == 0] <= 0.2 / L + 1e-12).all()
    Zt, F0 = Z0, lasso_objective(Z0, D, 0.2, X)
    for _ in range(30):
        Zt = ista_step(Zt, D, 1 / L, 0.2, X)
        F1 = lasso_objective(Zt, D, 0.2, X)
        assert F1 <= F0 + 1e-12
        F0 = F1
    torch.testing.assert_close(ista_step(X, D, 0.1, 0.1), torch.relu(X + 0.1 * (X - X @ D.T) @ D - 0.01))   # from Z = X


def literal_layer(Z, layer):
    "LN, MSSA with learned output, skip, LN, ISTA: one token set, loops over heads."
    def ln(X, norm):
        return (X - X.mean(1, keepdim=True)) / torch.sqrt(X.var(1, unbiased=False, keepdim=True) + norm.eps) * norm.weight + norm.bias
    m = layer.mssa
    Y = ln(Z, layer.norm_mssa)
    out = torch.zeros_like(Z)
    for Uk, Vk in zip(m.U, m.U if m.U_out is None else m.U_out):
        W = Y @ Uk
        out = out + torch.softmax(m.scale * W @ W.T, dim=1) @ W @ Vk.T
    X = ln(Z + out, layer.norm_ista)
    D = layer.ista.D
    return torch.relu(X + layer.ista.eta * (X - X @ D.T) @ D - layer.ista.eta * layer.ista.lam)


@pytest.mark.parametrize("tied", [False, True])
def test_layer_matches_literal(tied):
    torch.manual_seed(0)
    layer = CRATELayer(8, 2, 3, tied=tied).double()
    Z = torch.randn(4, 5, 8, dtype=F64)
    with torch.no_grad():
        out = layer(Z)
        for b in range(4):
            torch.testing.assert_close(out[b], literal_layer(Z[b], layer))
    assert (out >= 0).all() and (layer.mssa.U_out is None) == tied
    rec = layer.trace(Z)
    torch.testing.assert_close(rec["out"], out)
    assert rec["attention"].shape == (4, 2, 5, 5)


def test_model_shapes_names_save_load_and_dtypes():
    torch.manual_seed(1)
    net = CRATE(12, 4, 3, 5, dim=16, depth=3, heads=4)
    x = torch.rand(2, 3, 12, 12)
    assert net(x).shape == (2, 5) and len(net.trace(x)) == 3
    names = {n for n, _ in net.named_parameters()}
    assert {"layers.0.mssa.U", "layers.0.mssa.U_out", "layers.2.ista.D", "embedding.cls_token", "embedding.positions"} <= names
    assert net.layers[0].mssa.U.shape == (4, 16, 4) and net.embedding.num_patches == 9
    buf = io.BytesIO()
    torch.save({"config": net.config, "state": net.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf)
    again = CRATE(**saved["config"])
    again.load_state_dict(saved["state"])
    torch.testing.assert_close(again(x), net(x))
    assert net.double()(x.double()).dtype == F64
    # the patch layout: the first patch of the first row, channels last within a pixel
    emb = PatchEmbedding(4, 2, 2, 3)
    img = torch.arange(32.0).reshape(1, 2, 4, 4)
    torch.testing.assert_close(emb.patches(img)[0, 0], img[0, :, :2, :2].permute(1, 2, 0).reshape(-1))


def test_model_trains_a_step_and_blocks_exist():
    torch.manual_seed(2)
    net = CRATE(8, 4, 1, 3, dim=8, depth=2, heads=2)
    x, y = torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    assert isinstance(net.layers[0].mssa, MSSA) and isinstance(net.layers[0].ista, ISTA)


def test_model_on_cuda(device):
    net = CRATE(8, 4, 1, 3, dim=8, depth=1, heads=2).to(device)
    assert net(torch.rand(2, 1, 8, 8, device=device)).device.type == device.type
