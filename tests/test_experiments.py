"""Tests for redunet_book.experiments (configs, registry, Table 18 runner) and redunet_book.reproduce (the CLI)."""
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from redunet_book import experiments as ex
from redunet_book.experiments import (EXPERIMENTS, ExperimentConfig, Table18Config, TABLE18_PAPER, get_experiment,
                                      register_experiment, run_experiment)
from conftest import write_fake_mnist
from redunet_book.reproduce import git_revision, main, parse_override, result_path

REPO = Path(__file__).resolve().parents[1]


TINY = dict(train_per_class=3, test_per_class=3, num_layers=2, eps_sq_grid=(0.5,), eta_grid=(0.5,),
            num_components=2, verify_checksums=False)


def test_presets_and_scale_switch(monkeypatch):
    assert Table18Config.preset("book") == Table18Config()
    paper = Table18Config.preset("paper")
    assert (paper.train_per_class, paper.test_per_class, paper.num_layers, paper.lam) == (500, None, 100, 500.0)
    assert paper.eps_sq_grid == (0.1, 0.5, 1.0) and paper.eta_grid == (0.1, 0.5, 1.0)
    monkeypatch.setenv("REDUNET_BOOK_SCALE", "paper")
    assert Table18Config.preset() == paper
    monkeypatch.setenv("REDUNET_BOOK_SCALE", "huge")
    with pytest.raises(ValueError, match="REDUNET_BOOK_SCALE"):
        Table18Config.preset()
    with pytest.raises(ValueError, match="unknown Table18Config field"):
        Table18Config().with_overrides(layers=3)
    with pytest.raises(NotImplementedError):
        ExperimentConfig.paper()


def test_registry():
    assert "table18" in EXPERIMENTS and get_experiment("table18").config_class is Table18Config
    with pytest.raises(ValueError, match="registered"):
        get_experiment("table99")
    with pytest.raises(TypeError, match="ExperimentConfig"):
        register_experiment("bad", dict, "t", "p")

    @dataclass
    class Cfg(ExperimentConfig):
        k: int = 2

        @classmethod
        def paper(cls):
            return cls(k=20)

    @register_experiment("_t", Cfg, "test entry", "none")
    def run(config, device):
        return dict(k=config.k, device=device.type)

    try:
        rec = run_experiment("_t", "paper", "cpu", k=5)
        assert rec["results"] == {"k": 5, "device": "cpu"} and rec["config"] == {"k": 5} and rec["scale"] == "paper"
    finally:
        del EXPERIMENTS["_t"]


def test_table18_paper_numbers_are_the_papers():
    assert len(TABLE18_PAPER["rows"]) == 9
    assert {(r["eps_sq"], r["eta"]) for r in TABLE18_PAPER["rows"]} == {(e, h) for e in (0.1, 0.5, 1.0) for h in (0.1, 0.5, 1.0)}
    assert TABLE18_PAPER["svm"] == dict(train_acc=0.9986, test_acc=0.8463)


def test_table18_run_on_synthetic_files(tmp_path):
    write_fake_mnist(tmp_path, per_class=6)
    rec = run_experiment("table18", "book", "cpu", data_root=str(tmp_path), **TINY)
    r = rec["results"]
    assert r["n_train"] == 30 and r["n_test"] == 30 and len(r["grid"]) == 1
    cell = r["grid"][0]
    assert cell["layers"] == 2 and len(cell["delta_r"]) == 3 and cell["delta_r_last"] > cell["delta_r_first"]
    for d in (cell, r["svm"], r["svm_pixels"], r["raw_nearest_subspace"]):
        assert 0 <= d["train_acc"] <= 1 and 0 <= d["test_acc"] <= 1
    assert r["raw_nearest_subspace"]["test_acc"] > 0.9            # the synthetic classes are easy
    json.dumps(rec)                                               # everything is JSON-ready
    again = run_experiment("table18", "book", "cpu", data_root=str(tmp_path), **TINY)["results"]
    assert again["grid"][0]["test_acc"] == cell["test_acc"]       # deterministic


def test_table18_zero_layers_is_the_raw_baseline(tmp_path):
    write_fake_mnist(tmp_path, per_class=6)
    r = run_experiment("table18", "book", "cpu", data_root=str(tmp_path), **{**TINY, "num_layers": 0})["results"]
    assert r["grid"][0]["test_acc"] == r["raw_nearest_subspace"]["test_acc"]


def test_table18_on_cuda(tmp_path, device):
    write_fake_mnist(tmp_path, per_class=6)
    r = run_experiment("table18", "book", device, data_root=str(tmp_path), **TINY)["results"]
    assert r["grid"][0]["layers"] == 2


def test_parse_override():
    assert parse_override("num_layers=7", Table18Config) == ("num_layers", 7)
    assert parse_override("lam=20", Table18Config) == ("lam", 20.0)
    assert parse_override("eta_grid=0.1, 0.5", Table18Config) == ("eta_grid", (0.1, 0.5))
    assert parse_override("verify_checksums=false", Table18Config) == ("verify_checksums", False)
    assert parse_override("data_root=/x/y", Table18Config) == ("data_root", "/x/y")
    with pytest.raises(ValueError, match="true or false"):
        parse_override("center=maybe", Table18Config)
    with pytest.raises(ValueError):
        parse_override("num_layers=seven", Table18Config)


def test_result_path_never_clobbers_the_paper_record():
    assert result_path("results", "table18", "paper", {}).name == "table18.json"
    assert result_path("results", "table18", "book", {}).name == "table18-book.json"
    assert result_path("results", "table18", "paper", {"seed": 1}).name == "table18-paper-custom.json"
    assert result_path("results", "table18", "paper", {"seed": 1}, tag="paper-seed1").name == "table18-paper-seed1.json"
    with pytest.raises(ValueError, match="tag"):
        result_path("results", "table18", "paper", {}, tag="a/b")


def test_git_revision(tmp_path, monkeypatch):
    monkeypatch.delenv("REDUNET_COMMIT", raising=False)
    assert git_revision(tmp_path) == "unknown"
    rev = git_revision(REPO)
    assert rev == "unknown" or len(rev.split()[0]) == 40
    monkeypatch.setenv("REDUNET_COMMIT", "abc123")
    assert git_revision(REPO) == "abc123 (from $REDUNET_COMMIT)"


def test_main_in_process_list(capsys):
    assert main(["--list"]) is None and "table18" in capsys.readouterr().out
    assert main(["list"]) is None


def test_cli_subprocess_writes_the_record(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    write_fake_mnist(data / "mnist", per_class=6)                              # a data folder holding mnist/
    sets = [f"--set={k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in TINY.items()]
    env = {**os.environ, "PYTHONPATH": str(REPO), "REDUNET_BOOK_SCALE": "book"}
    env.pop("REDUNET_COMMIT", None)
    proc = subprocess.run([sys.executable, "-m", "redunet_book.reproduce", "table18", "--device", "cpu",
                           "--data", str(data), "--out", str(out), *sets],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    path = out / "table18-book-custom.json"
    assert path.exists() and str(path) in proc.stdout
    rec = json.loads(path.read_text())
    for key in ("command", "commit", "device", "torch", "python", "date", "load_average", "config", "results", "seconds"):
        assert key in rec
    assert rec["command"].startswith("python -m redunet_book.reproduce table18")
    assert rec["device"].startswith("cpu") and rec["torch"] == torch.__version__ and rec["scale"] == "book"
    assert rec["config"]["num_layers"] == 2 and rec["overrides"]["eps_sq_grid"] == [0.5]
    assert len(rec["results"]["grid"]) == 1


def test_cli_errors(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "redunet_book.reproduce", "table99", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0 and "registered" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "redunet_book.reproduce", "table18", "--scale", "huge"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_importing_reproduce_runs_nothing():
    proc = subprocess.run([sys.executable, "-c", "import redunet_book.reproduce as r; print('ok')"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok"


@pytest.mark.skipif(not (REPO / "results" / "table18.json").exists(), reason="no committed paper-scale record")
def test_committed_paper_record_is_complete():
    rec = json.loads((REPO / "results" / "table18.json").read_text())
    assert rec["scale"] == "paper" and rec["config"]["num_layers"] == 100 and rec["config"]["train_per_class"] == 500
    assert len(rec["results"]["grid"]) == 9 and rec["results"]["n_train"] == 5000
    for key in ("command", "commit", "device", "torch", "date"):
        assert rec[key]


def test_reproduce_registers_the_invariance_and_finetune_experiments():
    assert {"table18", "rotation", "translation", "equivariance", "table2"} <= set(EXPERIMENTS)


def test_cli_runs_an_invariance_experiment(tmp_path, monkeypatch):
    monkeypatch.setenv("REDUNET_DATA", str(tmp_path / "mnist"))         # main(--data) sets it; monkeypatch restores it
    write_fake_mnist(tmp_path / "mnist", per_class=3)
    path = main(["rotation", "--out", str(tmp_path / "r"), "--device", "cpu", "--data", str(tmp_path / "mnist"),
                 "--set", "train_per_class=2", "--set", "test_per_class=1", "--set", "num_angles=16",
                 "--set", "num_radii=3", "--set", "channels_grid=4", "--set", "num_layers=1", "--set", "plain_layers=1",
                 "--set", "verify_checksums=false"])
    record = json.loads(path.read_text())
    assert path.name == "rotation-book-custom.json" and record["config"]["channels_grid"] == [4]
    row = record["results"]["rows"][0]
    assert row["train_acc"] == 1.0 and sum(row["cos_features_hist"]) == row["cos_pairs"]
