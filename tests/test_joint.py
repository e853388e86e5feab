"""Tests of the joint dynamics of features and memberships (nbs/02b_joint_dynamics.ipynb, ReduNet eq. 54): the closed-form
gradient of Rᶜ in Π against autograd through a literal Rᶜ, one Euler step against a literal autograd step, and bad input."""
import pytest
import torch

from redunet_book.core import make_generator, normalize
from redunet_book.data import subspace_samples
from redunet_book.joint import joint_ascent, membership_gradient
from redunet_book.rate import class_coding_rate, rate_reduction

F64 = torch.float64


def literal_rc(Z, Pi, eps_sq):
    "Rᶜ = Σⱼ mⱼ/(2m) log det(I + n/(mⱼε²) Zᵀ diag(πⱼ) Z), one class at a time (paper's eq. 8, rows as samples)."
    m, n = Z.shape
    return sum(Pi[:, j].sum() / (2 * m) * torch.logdet(torch.eye(n, dtype=Z.dtype)
                                                        + n / (Pi[:, j].sum() * eps_sq) * Z.T @ torch.diag(Pi[:, j]) @ Z)
               for j in range(Pi.shape[1]))


def literal_step(Z, theta, eps_sq, eta, gamma):
    Z, theta = Z.clone().requires_grad_(), theta.clone().requires_grad_()
    m, n = Z.shape
    R = 0.5 * torch.logdet(torch.eye(n, dtype=Z.dtype) + n / (m * eps_sq) * Z.T @ Z)
    gZ, gt = torch.autograd.grad(R - literal_rc(Z, torch.softmax(theta, 1), eps_sq), (Z, theta))
    return normalize(Z + eta * gZ).detach(), (theta + gamma * m * gt).detach()


@pytest.mark.parametrize("m,n,k", [(12, 4, 3), (7, 9, 2), (30, 3, 4)])
@pytest.mark.parametrize("eps_sq", [0.05, 0.7])
def test_membership_gradient_matches_autograd(m, n, k, eps_sq):
    g = make_generator(m + n + k)
    Z = normalize(torch.randn(m, n, dtype=F64, generator=g))
    Pi = torch.softmax(2 * torch.randn(m, k, dtype=F64, generator=g), 1).requires_grad_()
    want = torch.autograd.grad(literal_rc(Z, Pi, eps_sq), Pi)[0]
    torch.testing.assert_close(membership_gradient(Z, Pi.detach(), eps_sq), want, rtol=1e-9, atol=1e-12)


def test_membership_gradient_at_a_hard_membership_and_an_empty_class():
    "At one-hot rows the value of Rᶜ is the package's; an exactly empty class has Aⱼ = I (the cost n‖z‖²/(2mε²))."
    X, y = subspace_samples([1, 2], 5, 6, generator=make_generator(3))
    Pi = torch.nn.functional.one_hot(y, 3).to(F64)
    torch.testing.assert_close(literal_rc(X, Pi[:, :2], 0.3), class_coding_rate(X, y, 0.3))
    G = membership_gradient(X, Pi, 0.3)
    torch.testing.assert_close(G[:, 2], 5 * X.square().sum(1) / (2 * len(y) * 0.3))
    assert torch.isfinite(G).all()


@pytest.mark.parametrize("move", [True, False])
def test_one_step_matches_the_literal_step(move):
    X, _ = subspace_samples([1, 1, 2], 6, 7, orthogonal=False, noise=0.1, generator=make_generator(4))
    theta = 0.5 * torch.randn(len(X), 3, dtype=F64, generator=make_generator(5))
    Z_lit, th_lit = literal_step(X, theta, 0.2, 0.4, 3.0)
    run = joint_ascent(X, 3, 0.2, 1, eta=0.4, gamma=3.0, move_features=move, logits=theta)
    torch.testing.assert_close(run.logits, th_lit, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(run.Z, Z_lit if move else X, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(run.delta_r[0], rate_reduction(X, torch.softmax(theta, 1), 0.2).double())


def test_trajectory_shapes_and_rise(dtype):
    X, y = subspace_samples([1, 1, 1], 3, 15, orthogonal=False, noise=0.05, generator=make_generator(6), dtype=dtype)
    run = joint_ascent(X, 3, 0.1, 50, generator=make_generator(7), snapshots=3)
    assert run.Z.dtype == dtype and run.Pi.shape == (45, 3) and run.delta_r.shape == (51,) and run.rate_c.shape == (51,)
    assert run.snapshots.shape == (3, 45, 3) and run.snapshot_steps == [0, 25, 50]
    torch.testing.assert_close(run.Pi.sum(1), torch.ones(45, dtype=dtype))
    assert run.delta_r[-1] > run.delta_r[0] and torch.isfinite(run.delta_r).all()
    torch.testing.assert_close(run.Z.norm(dim=1), torch.ones(45, dtype=dtype))


def test_device(device):
    X, _ = subspace_samples([1, 1], 3, 5, generator=make_generator(8))
    run = joint_ascent(X.to(device), 2, 0.2, 3, generator=make_generator(9))
    assert run.Z.device.type == device.type and run.Pi.device.type == device.type


def test_bad_input_names_the_argument():
    X, _ = subspace_samples([1, 1], 3, 5, generator=make_generator(10))
    Pi = torch.full((10, 2), 0.5, dtype=F64)
    with pytest.raises(ValueError, match="Pi must be"):
        membership_gradient(X, Pi[:-1], 0.2)
    with pytest.raises(ValueError, match="non-negative"):
        membership_gradient(X, -Pi, 0.2)
    with pytest.raises(TypeError, match="Pi"):
        membership_gradient(X, Pi.numpy(), 0.2)
    with pytest.raises(ValueError, match="eps_sq"):
        joint_ascent(X, 2, -1.0, 3)
    with pytest.raises(ValueError, match="logits"):
        joint_ascent(X, 2, 0.2, 3, logits=torch.zeros(10, 3))
    with pytest.raises(ValueError, match="gamma"):
        joint_ascent(X, 2, 0.2, 3, gamma=0.0)
    with pytest.raises(TypeError, match="steps"):
        joint_ascent(X, 2, 0.2, 2.5)
