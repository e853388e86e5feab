"""Tests for redunet_book.featurizers: training a featurizer with CE, MCR² or V-MCR² (V-MCR² paper, Algorithm 1),
its evaluation, and the MNIST comparison registered as the experiment `vmcr2-mnist` (configuration, records, CLI)."""
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import write_fake_mnist
from redunet_book.data import subspace_samples
from redunet_book.experiments import EXPERIMENTS, MNISTConfig, run_experiment
from redunet_book.featurizers import (METHODS, MNISTComparisonConfig, Normalize, compare_on_mnist, comparison_from_record,
                                      evaluate_featurizer, features_of, mnist_featurizer, mnist_tensors, run_vmcr2_mnist,
                                      train_featurizer)
from redunet_book.reproduce import main
from redunet_book.vmcr2 import VariationalMCR2

REPO = Path(__file__).resolve().parents[1]
TINY = dict(train_per_class=3, test_per_class=2, steps=3, d=16, atoms_per_class=2, gram_per_class=2, latch_freq=2,
            verify_checksums=False)


@pytest.mark.parametrize("method", METHODS)
def test_train_featurizer_runs(method, device):
    g = torch.Generator().manual_seed(0)
    X, y = subspace_samples([2] * 3, 10, 12, orthogonal=False, noise=0.05, generator=g, dtype=torch.float32)
    X, y = X.to(device), y.to(device)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 8), Normalize()).to(device)
    run = train_featurizer(net, X, y, method, 3, steps=6, batch_size=24, vmcr2=VariationalMCR2(3, atoms_per_class=2),
                           generator=torch.Generator().manual_seed(1))
    assert len(run.history["delta_r"]) == 6 and all(t >= 0 for t in run.history["seconds"])
    assert (run.head is not None) == (method == "ce") and (run.trainer is not None) == (method == "vmcr2")
    ev = evaluate_featurizer(net, X, y, X, y, 3, head=run.head)
    assert 0 <= ev["ns_accuracy"] <= 1 and ev["components"] == 8 // 3
    assert ("head_accuracy" in ev) == (method == "ce")


def test_rate_objectives_raise_delta_r():
    X, y = subspace_samples([2] * 3, 10, 40, orthogonal=False, noise=0.05, generator=torch.Generator().manual_seed(0),
                            dtype=torch.float32)
    for method in ("mcr2", "vmcr2"):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 8), Normalize())
        h = train_featurizer(net, X, y, method, 3, steps=30, batch_size=60, vmcr2=VariationalMCR2(3, atoms_per_class=2),
                             generator=torch.Generator().manual_seed(1)).history["delta_r"]
        assert h[-1] > h[0], method


def test_features_of_batches_and_restores_the_mode():
    net = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), Normalize())
    X = torch.randn(7, 4, generator=torch.Generator().manual_seed(0))
    net.train()
    Z = features_of(net, X, batch_size=3)
    assert Z.shape == (7, 6) and net.training
    torch.testing.assert_close(Z, features_of(net, X, batch_size=100))              # eval mode: no dropout, same in any batches


def test_mnist_featurizer_and_presets():
    f = mnist_featurizer(128)
    assert f[7].in_features == 12544                                             # Architecture 1, line 8
    assert torch.allclose(f(torch.randn(2, 1, 32, 32)).norm(dim=1), torch.ones(2))
    book, paper = MNISTComparisonConfig.preset("book"), MNISTComparisonConfig.preset("paper")
    assert paper.batch_size == 1000 and paper.optimizer == "sgd" and paper.lr == 1e-3 and paper.lr_ce == 1e-2
    assert book.steps < paper.steps and book.train_per_class < paper.train_per_class
    assert isinstance(book, MNISTConfig) and book.num_classes == paper.num_classes == 10 and book.dtype is torch.float32
    assert EXPERIMENTS["vmcr2-mnist"].config_class is MNISTComparisonConfig


def test_configuration_checks_itself():
    assert MNISTComparisonConfig(dtype="float64").dtype is torch.float64
    with pytest.raises(ValueError, match="optimizer must be one of"):
        MNISTComparisonConfig(optimizer="adamw")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        MNISTComparisonConfig(dtype="float16")
    with pytest.raises(TypeError):
        MNISTComparisonConfig(n_train_per_class=5)                     # one name per concept: train_per_class


def test_mnist_tensors_sizes(tmp_path):
    write_fake_mnist(tmp_path, per_class=6)
    for in_size, dtype in ((32, torch.float32), (16, torch.float64)):
        d = mnist_tensors(MNISTComparisonConfig(data_root=str(tmp_path), in_size=in_size, dtype=dtype, **TINY), "cpu")
        assert d["X_train"].shape == (30, 1, in_size, in_size) and d["X_test"].shape == (20, 1, in_size, in_size)
        assert d["X_train"].dtype == dtype and 0 <= float(d["X_train"].min()) and float(d["X_train"].max()) <= 1
        assert torch.bincount(d["y_train"]).tolist() == [3] * 10


def test_compare_on_mnist_is_deterministic_and_keeps_the_callers_random_state(tmp_path):
    write_fake_mnist(tmp_path, per_class=6)
    cfg = MNISTComparisonConfig(data_root=str(tmp_path), **TINY)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = compare_on_mnist(cfg, "cpu")
    assert torch.equal(torch.get_rng_state(), before)
    b = compare_on_mnist(cfg, "cpu")
    for m in METHODS:
        assert a[m]["history"]["delta_r"] == b[m]["history"]["delta_r"]
        assert a[m]["evaluation"] == b[m]["evaluation"] and a[m]["train_features"].shape == (30, 16)
    assert (a["n_train"], a["n_test"]) == (30, 20)


def test_record_with_three_classes(tmp_path):
    "num_classes reaches every part of the experiment: data, trainer, classifier, the record's heatmap."
    write_fake_mnist(tmp_path, per_class=6)
    rec = run_experiment("vmcr2-mnist", "book", "cpu", data_root=str(tmp_path), num_classes=3, history_every=2, **TINY)
    json.dumps(rec)
    res = rec["results"]
    assert (res["n_train"], res["n_test"]) == (9, 6) and "digits 0-2" in res["data"]
    for m in METHODS:
        r = res[m]
        assert r["evaluation"]["components"] == 16 // 3 and len(r["gram"]) == len(r["gram"][0]) == 3 * 2
        assert len(r["delta_r"]) == 2 and r["history_every"] == 2              # steps 0 and 2 of 3
    cfg, runs = comparison_from_record(json.loads(json.dumps(rec)))
    assert cfg.num_classes == 3 and cfg.dtype is torch.float32 and set(runs) == set(METHODS)
    assert rec["config"]["dtype"] == "float32"


def test_run_function_checks_its_configuration():
    with pytest.raises(TypeError, match="config must be a MNISTComparisonConfig"):
        run_vmcr2_mnist(MNISTConfig())
    with pytest.raises(ValueError, match="missing"):
        comparison_from_record({"config": {}, "ce": {}})


@pytest.mark.parametrize("name", ["vmcr2_mnist_paper", "vmcr2_mnist_paper_adam"])
def test_committed_chapter_records_read_back_with_todays_names(name):
    old = json.loads((REPO / "results" / f"{name}.json").read_text())
    assert "n_train_per_class" in old["config"]                   # the committed file keeps its names
    cfg, runs = comparison_from_record(old)
    assert (cfg.train_per_class, cfg.test_per_class, cfg.num_classes, cfg.steps, cfg.batch_size) == (500, 380, 10, 1000, 1000)
    assert cfg.optimizer == ("adam" if name.endswith("adam") else "sgd")
    assert all(0 < runs[m]["evaluation"]["ns_accuracy"] <= 1 for m in METHODS)


def test_cli_run(tmp_path, monkeypatch):
    monkeypatch.setenv("REDUNET_DATA", str(tmp_path / "mnist"))
    write_fake_mnist(tmp_path / "mnist", per_class=6)
    sets = [f"--set={k}={v}" for k, v in TINY.items()]
    path = main(["vmcr2-mnist", "--out", str(tmp_path / "r"), "--device", "cpu", "--data", str(tmp_path / "mnist"),
                 "--set", "dtype=float64", "--set", "optimizer=sgd", "--set", "batch_size=none", *sets])
    record = json.loads(path.read_text())
    assert path.name == "vmcr2-mnist-book-custom.json"
    assert record["config"]["dtype"] == "float64" and record["config"]["optimizer"] == "sgd" and record["config"]["batch_size"] is None
    assert record["overrides"]["dtype"] == "float64" and record["command"].startswith("python -m redunet_book.reproduce vmcr2-mnist")
    assert {"commit", "device", "torch", "date"} <= set(record)


def test_on_device(tmp_path, device):
    write_fake_mnist(tmp_path, per_class=6)
    r = compare_on_mnist(MNISTComparisonConfig(data_root=str(tmp_path), **TINY), device)
    assert all(0 <= r[m]["evaluation"]["ns_accuracy"] <= 1 for m in METHODS)


def test_bad_input():
    Z, y = torch.randn(10, 4), torch.arange(10) % 2
    with pytest.raises(ValueError, match="method must be one of"):
        train_featurizer(nn.Identity(), Z, y, "sgd", 2, 1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train_featurizer(nn.Identity(), Z, y, "ce", 2, 1, optimizer="lbfgs")
    with pytest.raises(TypeError, match="featurizer"):
        evaluate_featurizer(None, Z, y, Z, y, 2)
    with pytest.raises(ValueError, match="batch_size"):
        features_of(nn.Identity(), Z, batch_size=0)
