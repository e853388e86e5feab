"""Tests for redunet_book.finetune: learnable operators reproduce the construction, gradients, training, Table 2 runner."""
import pytest
import torch
import torch.nn.functional as F

from redunet_book.core import make_generator, normalize
from redunet_book.experiments import EXPERIMENTS
from redunet_book.finetune import (ReduNetBP, TABLE2_PAPER, Table2Config, learnable_layers, run_table2, train_bp)
from redunet_book.lifting import Lifting2d
from redunet_book.spectral import SpectralReduNet

from conftest import write_fake_mnist


def tiny(dtype=torch.float64, device="cpu", form="dense"):
    g = make_generator(0)
    X = torch.rand(12, 1, 6, 6, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)
    y = torch.arange(3, device=device).repeat(4)
    lift = Lifting2d(3, 3, nonlinearity="relu", seed=1, dtype=dtype)
    net = SpectralReduNet(2, 0.5, 0.1, 50.0, form=form).fit(normalize(lift(X)), y, num_classes=3)
    return X, y, lift, net


def test_constructed_start_reproduces_the_network(dtype):
    X, y, lift, net = tiny(dtype)
    bp = ReduNetBP(lift, learnable_layers(net), 3)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(bp.features(X), net(normalize(lift(X))), **tol)
    params = dict(bp.layers.named_parameters())
    assert set(params) == {f"{i}.{n}" for i in range(2) for n in ("E", "C")}
    assert all(p.is_complex() for p in params.values())
    assert torch.equal(params["0.E"].detach(), net.layers[0].E)        # a copy, not the same storage
    assert params["0.E"].data_ptr() != net.layers[0].E.data_ptr()


def test_gradient_matches_finite_difference():
    X, y, lift, net = tiny()
    bp = ReduNetBP(lift, learnable_layers(net), 3)
    def loss():
        return F.cross_entropy(bp(X), y)
    loss().backward()
    E = bp.layers[0].E
    grad = E.grad[3, 1, 2]                                               # d loss / d(real part) + i d loss / d(imag part)
    h = 1e-6
    for unit, part in ((1.0, grad.real), (1j, grad.imag)):
        with torch.no_grad():
            E[3, 1, 2] += h * unit
            up = float(loss())
            E[3, 1, 2] -= 2 * h * unit
            down = float(loss())
            E[3, 1, 2] += h * unit
        assert (up - down) / (2 * h) == pytest.approx(float(part), rel=1e-4, abs=1e-7)


def test_random_start_is_seeded_and_different():
    _, _, _, net = tiny()
    a = learnable_layers(net, random=True, generator=make_generator(3))
    b = learnable_layers(net, random=True, generator=make_generator(3))
    assert torch.equal(a[0].C, b[0].C) and not torch.allclose(a[0].C, net.layers[0].C)
    assert torch.equal(net.layers[0].E, tiny()[3].layers[0].E)           # the constructed net is untouched


def test_training_lowers_the_loss():
    X, y, lift, net = tiny()
    bp = ReduNetBP(lift, learnable_layers(net), 3)
    curve = train_bp(bp, X, y, X, y, epochs=4, lr=0.05, batch_size=6, generator=make_generator(1))
    assert len(curve) == 5 and curve[0]["loss"] is None and curve[-1]["loss"] < curve[1]["loss"]


def test_bad_input():
    X, y, lift, _ = tiny()
    net = SpectralReduNet(1, 0.5, 0.1, 50.0).fit(normalize(lift(X[:3])), y[:3], num_classes=3)   # 1 sample/class < 3 channels: Woodbury
    with pytest.raises(ValueError, match="dense"):
        learnable_layers(net)
    _, _, lift, net = tiny()
    bp = ReduNetBP(lift, learnable_layers(net), 3)
    with pytest.raises(ValueError, match="lr"):
        train_bp(bp, X, y, X, y, epochs=1, lr=0.0)
    with pytest.raises(ValueError, match="construct_per_class"):
        run_table2(Table2Config(construct_per_class=5, train_per_class=2, verify_checksums=False))


def test_table2_runner(tmp_path):
    write_fake_mnist(tmp_path, per_class=5)
    cfg = Table2Config(construct_per_class=2, train_per_class=3, test_per_class=2, image_size=8, channels=3, kernel_size=3,
                       num_layers=1, epochs=1, batch_size=10, data_root=str(tmp_path), verify_checksums=False)
    a, b = run_table2(cfg, "cpu"), run_table2(cfg, "cpu")
    assert (a["n_construct"], a["n_train"], a["n_test"]) == (20, 30, 20)
    assert a["construction"]["train_acc"] == 1.0
    for k in ("bp_random", "bp_construction"):
        assert len(a[k]["curve"]) == 2 and a[k]["test_acc"] == b[k]["test_acc"]
    assert "table2" in EXPERIMENTS and Table2Config.paper().num_layers == TABLE2_PAPER["layers"] == 30


def test_on_device(device):
    X, y, lift, net = tiny(torch.float32, device)
    bp = ReduNetBP(lift, learnable_layers(net), 3)
    assert bp(X).shape == (12, 3) and bp(X).device.type == torch.device(device).type
