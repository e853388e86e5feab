"""Tests for redunet_book.vmcr2: Proposition 3.1 / Theorem 2.1, the V-MCR² objective (7) against its literal form,
closed-form gradients (eqs. 10-11) against autograd, latching (Algorithm 2), the Lipschitz bound L_A, the proximal
step and trainer (Algorithm 1), empty classes, dtypes and devices, and bad input (the featurizer training and the MNIST
comparison: tests/test_featurizers.py)."""
import pytest
import torch
from torch import nn

from redunet_book.core import membership_matrix, normalize
from redunet_book.data import subspace_samples
from redunet_book.rate import rate_reduction
from redunet_book.vmcr2 import (VariationalMCR2, VariationalParams, latch, lipschitz_bounds, proximal_step, psd_factor,
                                random_factor, variational_value, vmcr2_gradients, vmcr2_terms)

F64 = dict(dtype=torch.float64)
SHAPES = [(30, 6, 3, 12), (12, 20, 4, 8), (50, 8, 5, 40), (7, 3, 7, 7)]


def features(m, d, gen, dtype=torch.float64, device="cpu"):
    "Unit-norm random features (m, d)."
    return normalize(torch.randn(m, d, generator=gen, **F64)).to(dtype=dtype, device=device)


def labels(m, k, gen):
    "Random labels in [0, k), every class present when m >= k."
    return (torch.arange(m) % k)[torch.randperm(m, generator=gen)]


def params(d, q, k, gen, dtype=torch.float64, device="cpu"):
    "Random Γ (d, q) with unit columns and A (q, k) >= 0."
    G = normalize(torch.randn(q, d, generator=gen, **F64)).T
    return VariationalParams(G.to(dtype=dtype, device=device).contiguous(),
                             torch.rand(q, k, generator=gen, **F64).to(dtype=dtype, device=device))


def memberships(m, k, gen):
    "(membership, num_classes): labels, labels with two empty classes, soft rows."
    y = labels(m, k, gen)
    return [(y, k), (y, k + 2), (torch.softmax(2 * torch.randn(m, k, generator=gen, **F64), 1), k)]


# --- Proposition 3.1 / Theorem 2.1

@pytest.mark.parametrize("d,r", [(5, 5), (9, 4), (16, 1)])
def test_proposition_31(d, r, gen):
    B = torch.randn(d, r, generator=gen, **F64)
    M = B @ B.T
    for c in (0.0, 0.3, 4.0):
        exact = -torch.logdet(torch.eye(d, **F64) + c * M)
        U = psd_factor(M)
        torch.testing.assert_close(U @ U.T, M, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(variational_value(U, c), exact, rtol=1e-11, atol=1e-11)
        for p in (d, d + 3, 3 * d):
            V = random_factor(M, p, generator=gen)
            assert V.shape == (d, p) and torch.allclose(V @ V.T, M, atol=1e-10)
            assert variational_value(V, c) <= exact + 1e-10


def test_psd_factor_batched(gen):
    B = torch.randn(4, 6, 3, generator=gen, **F64)
    M = B @ B.mT
    U = psd_factor(M)
    torch.testing.assert_close(U @ U.mT, M, rtol=1e-10, atol=1e-10)
    norms = U.square().sum(-2)                                    # column norms² = eigenvalues, decreasing
    assert (norms[:, :-1] >= norms[:, 1:] - 1e-12).all()


# --- objective (7)

def test_terms_float32_and_device(device, gen):
    m, d, k, q = 60, 16, 4, 24
    Z, y = features(m, d, gen), labels(m, k, gen)
    P = params(d, q, k, gen)
    ref = vmcr2_terms(Z, y, *P, 0.5)
    Z32, y32 = Z.to(device=device, dtype=torch.float32), y.to(device)
    P32 = VariationalParams(*(p.to(device=device, dtype=torch.float32) for p in P))
    out = vmcr2_terms(Z32, y32, *P32, 0.5)
    assert out.objective.dtype == torch.float32 and out.objective.device.type == device.type
    for a, b in zip(out, ref):
        assert abs(float(a) - float(b)) <= 1e-4 * max(1.0, abs(float(b)))


def test_empty_class_contributes_nothing(gen):
    Z, y = features(20, 5, gen), torch.tensor([0, 1, 3] * 6 + [0, 1])           # class 2 empty
    P = params(5, 8, 4, gen)
    A = P.A.clone()
    A[:, 2] = 0
    with_empty = vmcr2_terms(Z, y, P.Gamma, A, 0.5, num_classes=4)
    y3 = torch.where(y == 3, 2, y)
    without = vmcr2_terms(Z, y3, P.Gamma, A[:, [0, 1, 3]], 0.5)
    for a, b in zip(with_empty, without):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    new = proximal_step(Z, y, P.Gamma, A, 0.5, num_classes=4)
    assert (new.A[:, 2] == 0).all() and torch.isfinite(new.A).all()


# --- gradients

@pytest.mark.parametrize("m,d,k,q", SHAPES)
def test_gradients_match_autograd(m, d, k, q, gen):
    Z = features(m, d, gen)
    for membership, kk in memberships(m, k, gen):
        G, A = params(d, q, kk, gen)
        Gg, Ag = G.clone().requires_grad_(), A.clone().requires_grad_()
        vmcr2_terms(Z, membership, Gg, Ag, 0.7, mu=2.5, num_classes=kk).objective.backward()
        closed = vmcr2_gradients(Z, membership, G, A, 0.7, mu=2.5, num_classes=kk)
        torch.testing.assert_close(closed.Gamma, Gg.grad, rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(closed.A, Ag.grad, rtol=1e-9, atol=1e-11)


def test_paper_equations_10_11(gen):
    m, d, k, q, mu = 30, 5, 3, 9, 1.7                                            # balanced classes: 1/γⱼ = k
    Z, y = features(m, d, gen), torch.arange(m) % k
    G, A = params(d, q, k, gen)
    Pi = membership_matrix(y, m, **F64)
    C = [Z.T @ torch.diag(Pi[:, j]) @ Z for j in range(k)]
    eq10 = -2 * mu * k / m * sum(C[j] @ G @ torch.diag(A[:, j]) - G @ torch.diag(A[:, j]) @ G.T @ G @ torch.diag(A[:, j])
                                 for j in range(k))
    eq11 = mu * k / m * ((G.T @ G) ** 2 @ A - (G.T @ Z.T) ** 2 @ Pi)
    Gg, Ag = G.clone().requires_grad_(), A.clone().requires_grad_()
    (mu / (2 * m) * vmcr2_terms(Z, y, Gg, Ag, 0.5, mu).M).backward()
    torch.testing.assert_close(eq10, Gg.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(eq11, Ag.grad, rtol=1e-10, atol=1e-12)



# --- the support path (A sparse by columns) against the dense path, float64

def sparse_cases(gen):
    "(name, Z, membership, k, Γ, A) with A supported on few atoms per class: latched blocks, permuted, shared, padded, soft."
    m, d, k, per = 60, 12, 6, 3
    Z, y = features(m, d, gen), labels(m, k, gen)
    G, A = latch(Z, y, per, num_classes=k)                        # blocks: class j owns atoms j·per … j·per+per−1
    perm = torch.randperm(k * per, generator=gen)
    A_shared = A.clone()
    A_shared[0, 1] = 0.3                                           # atom 0 used by classes 0 and 1
    A_padded = A.clone()
    A_padded[k * per - 1, k - 1] = 0.0                             # the last class uses one atom fewer
    soft = torch.softmax(2 * torch.randn(m, k, generator=gen, **F64), 1)
    yield "blocks", Z, y, k, G, A
    yield "permuted", Z, y, k, G[:, perm], A[perm]
    yield "shared", Z, y, k, G, A_shared
    yield "padded", Z, y, k, G, A_padded
    yield "empty class", Z, y, k + 1, G, torch.cat([A, torch.zeros(k * per, 1, **F64)], 1)
    yield "soft", Z, soft, k, G, A


def test_support_path_matches_dense(device, gen):
    from redunet_book.rate import _coefficients
    from redunet_book.vmcr2 import (SPARSE_MAX_FRACTION, _gradients, _lipschitz, _penalty_parts, _penalty_z, _prox_step,
                                    _qa, _support, _terms)
    for name, Z, membership, k, G, A in sparse_cases(gen):
        Z, G, A, membership = (t.to(device) for t in (Z, G, A, membership))
        Pi = membership_matrix(membership, Z.shape[0], k, **F64, device=device)
        sup = _support(A, SPARSE_MAX_FRACTION)                     # explicit: by default only the CPU takes this path
        assert (_support(A) is None) == (torch.device(device).type == "cuda"), name
        assert sup is not None, name
        assert sup.blocks == (name in ("blocks", "soft")), name
        dense, sparse = _penalty_parts(Z, Pi, G), _penalty_parts(Z, Pi, G, sup=sup)
        torch.testing.assert_close(_qa(sparse, A), _qa(dense, A), rtol=1e-12, atol=1e-12)
        for a, b in zip(_terms(Z, Pi, G, A, 0.5, 2.0, sparse), _terms(Z, Pi, G, A, 0.5, 2.0, dense)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        for a, b in zip(_gradients(Z, Pi, G, A, 0.5, 2.0, sparse), _gradients(Z, Pi, G, A, 0.5, 2.0, dense)):
            torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)
        assert _lipschitz(sparse, A, 2.0, Z.shape[0]) == pytest.approx(_lipschitz(dense, A, 2.0, Z.shape[0]), rel=1e-12)
        Zs, Zd = Z.clone().requires_grad_(), Z.clone().requires_grad_()
        vs, vd = _penalty_z(Zs, Pi, G, A, sup), _penalty_z(Zd, Pi, G, A, None)
        vs.backward(), vd.backward()
        torch.testing.assert_close(vs, vd, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(Zs.grad, Zd.grad, rtol=1e-11, atol=1e-12)
        new, _, _ = _prox_step(Z, Pi, VariationalParams(G, A), 0.5, 2.0, 5.0, 5.0)
        alpha = _coefficients(Pi, Z.shape[1], 0.5).alpha
        grad, L = _gradients(Z, Pi, G, A, 0.5, 2.0, dense), _lipschitz(dense, A, 2.0, Z.shape[0])
        A_ref = torch.relu(A + 5.0 / L.A * grad.A) * (dense.w > 0)
        G_ref = G + 5.0 / L.Gamma * grad.Gamma
        torch.testing.assert_close(new.A, A_ref, rtol=1e-11, atol=1e-12)
        torch.testing.assert_close(new.Gamma, G_ref / G_ref.norm(dim=0), rtol=1e-11, atol=1e-12)
        assert alpha > 0


def test_support_path_on_dense_A_and_under_autograd(gen):
    "A forced support over every atom (no blocks) still equals the dense path; autograd never takes the in-place path."
    from redunet_book.vmcr2 import _detached_support, _gradients, _penalty_parts, _support
    m, d, k, q = 30, 6, 3, 12
    Z, y = features(m, d, gen), labels(m, k, gen)
    G, A = params(d, q, k, gen)
    Pi = membership_matrix(y, m, k, **F64)
    assert _support(A) is None                                     # dense A: the dense path is cheaper
    sup = _support(A, max_fraction=1.0)
    assert sup is not None and not sup.blocks and sup.idx.shape == (k, q)
    for a, b in zip(_gradients(Z, Pi, G, A, 0.5, 1.0, _penalty_parts(Z, Pi, G, sup=sup)),
                    _gradients(Z, Pi, G, A, 0.5, 1.0, _penalty_parts(Z, Pi, G))):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)
    _, Z, y, k, Gl, Al = next(sparse_cases(gen))                   # latched: 3 of 18 atoms per class
    assert _detached_support(Al, Z, Gl) is not None
    assert _detached_support(Al, Z, Gl.clone().requires_grad_()) is None
    with torch.no_grad():
        assert _detached_support(Al, Z, Gl.clone().requires_grad_()) is not None


def test_gradients_match_autograd_at_a_latched_point(gen):
    "vmcr2_gradients takes the support path at a latched (Γ, A); autograd through vmcr2_terms takes the dense one."
    for name, Z, membership, k, G, A in sparse_cases(gen):
        Gg, Ag = G.clone().requires_grad_(), A.clone().requires_grad_()
        vmcr2_terms(Z, membership, Gg, Ag, 0.5, mu=3.0, num_classes=k).objective.backward()
        closed = vmcr2_gradients(Z, membership, G, A, 0.5, mu=3.0, num_classes=k)
        torch.testing.assert_close(closed.Gamma, Gg.grad, rtol=1e-10, atol=1e-12, msg=name)
        torch.testing.assert_close(closed.A, Ag.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_lipschitz_A_bounds_the_hessian(gen):
    m, d, k, q, mu = 40, 6, 4, 12, 1.3
    Z, y = features(m, d, gen), labels(m, k, gen)
    G, A = params(d, q, k, gen)
    H = torch.autograd.functional.hessian(lambda X: mu / (2 * m) * vmcr2_terms(Z, y, G, X, 0.5, mu).M, A)
    H = H.reshape(q * k, q * k)
    assert float(torch.linalg.eigvalsh(H).abs().max()) <= lipschitz_bounds(Z, y, G, A, mu).A * (1 + 1e-9)


# --- latching

@pytest.mark.parametrize("m,d,k", [(60, 8, 4), (12, 20, 3), (40, 10, 10)])
def test_full_latching_is_exact(m, d, k, gen):
    Z = features(m, d, gen)
    for membership, kk in memberships(m, k, gen):
        P = latch(Z, membership, d, num_classes=kk)
        assert P.Gamma.shape == (d, d * kk) and P.A.shape == (d * kk, kk)
        assert torch.allclose(P.Gamma.norm(dim=0), torch.ones(d * kk, **F64)) and (P.A >= 0).all()
        t = vmcr2_terms(Z, membership, *P, 0.5, num_classes=kk)
        assert abs(float(t.M)) <= 1e-9 * m * m
        torch.testing.assert_close(t.Rv - t.Rcv, rate_reduction(Z, membership, 0.5, kk), rtol=1e-9, atol=1e-10)


def test_latch_gram_side_matches_svd(gen):
    Z, y = features(50, 30, gen), torch.arange(50) % 5                          # 10 samples per class < d
    P = latch(Z, y, 4)
    for j in range(5):
        S = torch.linalg.svdvals(Z[y == j])[:4] ** 2
        block = P.A[4 * j:4 * j + 4, j]
        torch.testing.assert_close(block, S, rtol=1e-10, atol=1e-12)
        Cj = Z[y == j].T @ Z[y == j]
        V = P.Gamma[:, 4 * j:4 * j + 4]
        torch.testing.assert_close(Cj @ V, V * S, rtol=1e-8, atol=1e-10)     # eigenvectors
        assert (P.A[4 * j:4 * j + 4, torch.arange(5) != j] == 0).all()


# --- Algorithm 1

def test_proximal_steps_ascend_on_fixed_features(gen):
    Z, y = subspace_samples([2] * 5, 16, 20, orthogonal=False, noise=0.05, generator=gen)
    P = latch(Z, y, 2)
    values = [float(vmcr2_terms(Z, y, *P, 0.5).objective)]
    for _ in range(25):
        P = proximal_step(Z, y, *P, 0.5)
        values.append(float(vmcr2_terms(Z, y, *P, 0.5).objective))
        assert torch.allclose(P.Gamma.norm(dim=0), torch.ones(10, **F64)) and (P.A >= 0).all()
    assert all(b >= a - 1e-9 for a, b in zip(values, values[1:]))


class Free(nn.Module):
    "Free features: a table of rows, normalised."
    def __init__(self, Z0):
        super().__init__()
        self.W = nn.Parameter(Z0.clone())

    def forward(self, idx):
        return torch.nn.functional.normalize(self.W[idx], dim=1)


def run_free(seed, steps=60):
    "Algorithm 1 on free features; returns the records."
    g = torch.Generator().manual_seed(seed)
    Z, y = subspace_samples([2] * 4, 12, 15, orthogonal=False, noise=0.05, generator=g)
    net = Free(Z)
    tr = VariationalMCR2(4, atoms_per_class=2, latch_freq=20)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    return [tr.step(net, opt, torch.arange(60), y) for _ in range(steps)], tr


def test_trainer_increases_true_delta_r_and_is_deterministic():
    recs, tr = run_free(3)
    assert recs[-1]["delta_r"] > recs[0]["delta_r"] + 0.5
    assert tr.iteration == 60 and tr.params.Gamma.shape == (12, 8)
    again, _ = run_free(3)
    assert [r["delta_r"] for r in recs] == [r["delta_r"] for r in again]
    for key in ("R", "Rc", "delta_r", "Rv", "Rcv", "M", "objective", "L_Gamma", "L_A"):
        assert key in recs[0]


# --- bad input

def test_bad_input(gen):
    Z, y = features(10, 4, gen), labels(10, 2, gen)
    G, A = params(4, 6, 2, gen)
    with pytest.raises(ValueError, match="eps_sq"):
        vmcr2_terms(Z, y, G, A, 0.0)
    with pytest.raises(ValueError, match="mu"):
        vmcr2_terms(Z, y, G, A, 0.5, mu=-1)
    with pytest.raises(ValueError, match="Gamma must have d=4"):
        vmcr2_terms(Z, y, G[:3], A, 0.5)
    with pytest.raises(ValueError, match="A must have shape"):
        vmcr2_terms(Z, y, G, A[:, :1], 0.5)
    with pytest.raises(TypeError, match="Gamma must be a torch.Tensor"):
        vmcr2_gradients(Z, y, G.numpy(), A, 0.5)
    with pytest.raises(ValueError, match="A contains NaN"):
        lipschitz_bounds(Z, y, G, A * float("nan"))
    with pytest.raises(ValueError, match="atoms_per_class must be <= d=4"):
        latch(Z, y, 5)
    with pytest.raises(ValueError, match="membership has 9 rows"):
        latch(Z, y[:9], 2)
    with pytest.raises(ValueError, match="nu_A"):
        proximal_step(Z, y, G, A, 0.5, nu_A=0)
    with pytest.raises(ValueError, match="c must be"):
        variational_value(G, -1.0)
    with pytest.raises(ValueError, match="M must be symmetric"):
        psd_factor(torch.randn(3, 3, generator=gen, **F64) + 5 * torch.triu(torch.ones(3, 3, **F64)))
    with pytest.raises(ValueError, match="num_columns must be >= 4"):
        random_factor(Z.T @ Z, 2)
    with pytest.raises(ValueError, match="latch_freq"):
        VariationalMCR2(2, latch_freq=0)


# --- defects of issue 14: bad spectra and overflowing features are errors that say so, not NaN or a raw torch error

@pytest.mark.parametrize("shift", [0.01, 5.0])
def test_negative_spectra_are_refused(shift, gen):
    "A = −0.01 used to be accepted (a wrong objective); A = −5 raised a raw Cholesky error."
    Z, y = features(40, 6, gen), labels(40, 3, gen)
    Gamma, A = latch(Z, y, 2)
    A = A.clone()
    A[0, 0] = -shift
    for call in (lambda: vmcr2_terms(Z, y, Gamma, A, 0.5), lambda: vmcr2_gradients(Z, y, Gamma, A, 0.5),
                 lambda: proximal_step(Z, y, Gamma, A, 0.5)):
        with pytest.raises(ValueError, match="A must be >= 0"):
            call()


def test_overflowing_float32_features_are_an_error_not_nan(gen):
    "A float32 Z of 1e20 gave an all-NaN Γ from proximal_step."
    Z, y = features(40, 6, gen).float(), labels(40, 3, gen)
    Gamma, A = latch(Z, y, 2)
    with pytest.raises(ValueError, match="Z is too large for torch.float32"):
        proximal_step(Z * 1e20, y, Gamma, A, 0.5)
    step = proximal_step(Z.double() * 1e20, y, Gamma.double(), A.double(), 0.5)   # representable in float64: computed
    assert all(torch.isfinite(t).all() for t in step)
