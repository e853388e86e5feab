"""Tests for redunet_book.finetune: learnable operators reproduce the construction, gradients, training, Table 2 runner."""
import pytest
import torch
import torch.nn.functional as F

from redunet_book.core import make_generator, normalize
from redunet_book.experiments import EXPERIMENTS
from redunet_book import finetune
from redunet_book.finetune import (ReduNetBP, TABLE2_PAPER, Table2Config, learnable_layers, run_table2, select_lr, table2_data,
                                   train_bp)
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
    bp = ReduNetBP(lift, learnable_layers(net), 3)
    quiet = train_bp(bp, X, y, X, y, epochs=1, lr=0.05, batch_size=6, generator=make_generator(1), track_train=False)
    assert [c["train_acc"] for c in quiet] == [None, None] and quiet[1]["loss"] == pytest.approx(curve[1]["loss"], rel=1e-12)


def test_micro_batches_take_the_same_steps():
    "Back-propagating each batch in parts and adding the gradients is the same SGD step as the whole batch (less memory)."
    X, y, lift, net = tiny()
    whole, parts = (ReduNetBP(lift, learnable_layers(net, random=True, generator=make_generator(2)), 3, seed=1) for _ in range(2))
    a = train_bp(whole, X, y, X, y, epochs=2, lr=0.05, batch_size=6, generator=make_generator(1))
    b = train_bp(parts, X, y, X, y, epochs=2, lr=0.05, batch_size=6, generator=make_generator(1), micro_batch=4)  # 4 + 2
    for p, q in zip(whole.parameters(), parts.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    assert [c["loss"] for c in b[1:]] == pytest.approx([c["loss"] for c in a[1:]], rel=1e-12)
    assert [c["test_acc"] for c in b] == [c["test_acc"] for c in a]


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


# ---- the learning rate, chosen on validation images (never the test set) ----------------------------

def tiny_selection(tmp_path, **kw):
    "A tiny Table 2 configuration that chooses its rate on 2 validation images per class (synthetic files, 8 per class)."
    write_fake_mnist(tmp_path, per_class=8)
    base = dict(construct_per_class=2, train_per_class=5, test_per_class=3, image_size=8, channels=3, kernel_size=3,
                num_layers=1, epochs=1, batch_size=10, data_root=str(tmp_path), verify_checksums=False,
                lr=None, lr_grid=(0.5, 0.05, 0.005), validation_per_class=2, selection_epochs=2)
    return Table2Config(**{**base, **kw})


def test_validation_images_are_training_images_that_construct_nothing_and_are_never_tested(tmp_path):
    cfg = tiny_selection(tmp_path)
    d = table2_data(cfg, "cpu")
    pos = d["positions"]
    assert not set(pos["validation"].tolist()) & set(pos["construct"].tolist())            # construction first, validation last
    assert sorted(pos["fit"].tolist() + pos["validation"].tolist()) == list(range(len(d["train"][1])))
    assert torch.equal(torch.bincount(d["validation"][1], minlength=10), torch.full((10,), 2))  # class-balanced
    def keys(X):
        return {bytes(x.numpy().tobytes()) for x in X}
    val, test, cons, fit = (keys(d[k][0]) for k in ("validation", "test", "construct", "fit"))
    assert len(val) == 20 and not val & test and not val & cons and not val & fit              # the images themselves
    assert cons <= fit and keys(d["train"][0]) == fit | val


def test_the_choice_of_rate_never_sees_the_test_set(tmp_path, monkeypatch):
    "Scrambling the test images and labels changes the test accuracies, never the selection: a leak would fail this."
    cfg = tiny_selection(tmp_path)
    a = run_table2(cfg, "cpu")
    real = finetune.table2_data
    def scrambled(config, device=None):
        d = real(config, device)
        X, y = d["test"]
        d["test"] = (torch.rand(X.shape, generator=make_generator(9), dtype=X.dtype), (y + 1) % config.num_classes)
        return d
    monkeypatch.setattr(finetune, "table2_data", scrambled)
    b = run_table2(cfg, "cpu")
    assert a["construction"]["test_acc"] != b["construction"]["test_acc"]                  # the test set did change
    for row in ("bp_random", "bp_construction"):
        sa, sb = a["selection"][row], b["selection"][row]
        assert sa["lr"] == sb["lr"] == a[row]["lr"] == b[row]["lr"]
        assert [(t["lr"], t["val_acc"], t["loss"]) for t in sa["trials"]] == [(t["lr"], t["val_acc"], t["loss"]) for t in sb["trials"]]
        assert sa["lr"] == max(sa["trials"], key=lambda t: t["val_acc"])["lr"] and len(sa["trials"]) == 3
    sel = a["selection"]
    assert (sel["n_fit"], sel["n_validation"], a["n_train"]) == (30, 20, 50) and sel["lr_grid"] == [0.5, 0.05, 0.005]


def test_select_lr_keeps_the_best_validation_accuracy_and_the_first_of_a_tie():
    X, y, lift, net = tiny()
    g = make_generator(3)
    X_val, y_val = torch.rand(6, 1, 6, 6, generator=g, dtype=torch.float64), torch.arange(3).repeat(2)
    def fresh():
        return ReduNetBP(lift, learnable_layers(net, random=True, generator=make_generator(1)), 3, seed=2)
    sel = select_lr(fresh, X, y, X_val, y_val, [1.0, 0.1, 0.01], epochs=2, batch_size=6)
    best = max(t["val_acc"] for t in sel["trials"])
    assert sel["lr"] == next(t["lr"] for t in sel["trials"] if t["val_acc"] == best)
    assert all(len(t["curve"]) == 3 and t["curve"][-1]["val_acc"] == t["val_acc"] for t in sel["trials"])
    tie = select_lr(fresh, X, y, X_val, y_val, (0.1, 0.1), epochs=1, batch_size=6)
    assert tie["trials"][0]["val_acc"] == tie["trials"][1]["val_acc"] and tie["lr"] == 0.1
    with pytest.raises(TypeError, match="make_model"):
        select_lr(fresh(), X, y, X_val, y_val, (0.1,), 1)
    with pytest.raises(ValueError, match="lr_grid"):
        select_lr(fresh, X, y, X_val, y_val, (), 1)


def test_learning_rate_fields():
    assert Table2Config().lr == 0.05 and Table2Config().lr_grid is None and Table2Config().validation_per_class == 0
    paper = Table2Config.paper()
    assert paper.lr is None and paper.lr_grid == (1e-2, 1e-3, 1e-4) and paper.validation_per_class == 50
    assert paper.construct_per_class + paper.validation_per_class <= paper.train_per_class
    with pytest.raises(ValueError, match="give exactly one"):
        Table2Config(lr_grid=(0.1,), validation_per_class=2)                               # lr is still 0.05
    with pytest.raises(ValueError, match="give exactly one"):
        Table2Config(lr=None)
    with pytest.raises(ValueError, match="validation_per_class must be >= 1"):
        Table2Config(lr=None, lr_grid=(0.1,))
    with pytest.raises(ValueError, match="construct_per_class \\+ validation_per_class"):
        Table2Config(lr=None, lr_grid=(0.1,), validation_per_class=11)                     # 10 + 11 > 20
    with pytest.raises(ValueError, match="lr_grid"):
        Table2Config(lr=None, lr_grid=(0.1, 0.0), validation_per_class=2)
    assert Table2Config.from_record(paper.as_record()) == paper                            # a record reads back
