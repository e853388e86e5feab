"""Tests for redunet_book.experiments (configs, registry, Table 18 runner) and redunet_book.reproduce (the CLI)."""
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from redunet_book.experiments import (EXPERIMENTS, RENAMED_FIELDS, ExperimentConfig, GaussianFiguresConfig, MNISTConfig, Table18Config,
                                      TABLE18_PAPER, get_experiment, register_experiment, run_experiment)
from redunet_book.gaussians import BOOK_LAYERS, MIXTURES, PAPER_LAYERS
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


GAUSS_TINY = dict(mixtures="s1_two,s1_six", num_layers=(25,), samples_per_class=30, curve_points=6, keep_per_class=3)


def test_gaussians_registered_with_the_papers_depths():
    assert get_experiment("gaussians").config_class is GaussianFiguresConfig
    book, paper = GaussianFiguresConfig.preset("book"), GaussianFiguresConfig.preset("paper")
    assert paper.num_layers == (2000, 2000, 2500, 4000) == tuple(PAPER_LAYERS[k] for k in MIXTURES)   # §5.2, Fig. 29
    assert book.num_layers == tuple(BOOK_LAYERS[k] for k in MIXTURES) and book.mixtures.split(",") == list(MIXTURES)
    assert {k: paper.mixture_config(k).num_layers for k in MIXTURES} == PAPER_LAYERS
    assert GaussianFiguresConfig(num_layers=(7,)).mixture_config("s1_six").num_layers == 7               # one depth for all
    assert (paper.samples_per_class, paper.sigma, paper.eta, paper.eps_sq, paper.lam) == (500, 0.1, 0.5, 0.1, 500.0)
    assert GaussianFiguresConfig.from_record(json.loads(json.dumps(paper.as_record()))) == paper       # a record reads back


def test_gaussians_run_tiny():
    rec = run_experiment("gaussians", "book", "cpu", **GAUSS_TINY)
    json.dumps(rec)                                                            # everything is JSON-ready
    mixtures = rec["results"]["mixtures"]
    assert list(mixtures) == ["s1_two", "s1_six"] and rec["config"]["num_layers"] == (25,)
    for name, r in mixtures.items():
        assert r["mixture"] == name and r["layers"] == 25 and r["samples_per_class"] == 30
        assert len(r["curves"]["layer"]) == 6 and len(r["samples"]["labels"]) == 3 * len(MIXTURES[name])
        assert r["test_cluster_accuracy"] == 1.0                               # well-separated clusters: every test sample on its own
        assert r["delta_r_train"][1] > r["delta_r_train"][0] and r["seconds"] >= 0
        assert len(r["cos_train"]) == len(MIXTURES[name])
    two = mixtures["s1_two"]
    assert two["max_cos_train"] < two["max_cos_input"]                         # the two class lines move towards orthogonal
    again = run_experiment("gaussians", "book", "cpu", **GAUSS_TINY)["results"]
    assert again["mixtures"]["s1_two"]["cos_test"] == two["cos_test"]          # seeded: deterministic


def test_gaussians_config_bad_values():
    with pytest.raises(ValueError, match="GaussianFiguresConfig.mixtures"):
        GaussianFiguresConfig(mixtures="s1_two,s5_two")
    with pytest.raises(ValueError, match="one per mixture"):
        GaussianFiguresConfig(num_layers=(10, 20))
    with pytest.raises(TypeError, match="num_layers"):
        GaussianFiguresConfig(num_layers=(10.5,))
    with pytest.raises(ValueError, match="num_layers"):
        GaussianFiguresConfig(num_layers=(-1,))
    with pytest.raises(ValueError, match="sigma"):
        GaussianFiguresConfig(sigma=0.0)
    with pytest.raises(ValueError, match="curve_points"):
        GaussianFiguresConfig(curve_points=1)
    with pytest.raises(TypeError, match="config"):
        get_experiment("gaussians").run(Table18Config())


def test_gaussians_cli_in_process(tmp_path, capsys):
    path = main(["gaussians", "--device", "cpu", "--out", str(tmp_path), "--set", "mixtures=s2_three", "--set", "num_layers=4",
                 "--set", "samples_per_class=6", "--set", "keep_per_class=2"])
    assert path == tmp_path / "gaussians-book-custom.json" and "gaussians" in capsys.readouterr().out
    rec = json.loads(path.read_text())
    for key in ("command", "commit", "device", "date", "load_average", "config", "results", "seconds"):
        assert key in rec
    assert rec["config"]["num_layers"] == [4] and list(rec["results"]["mixtures"]) == ["s2_three"]
    assert parse_override("num_layers=2000,2000,2500,4000", GaussianFiguresConfig) == ("num_layers", (2000, 2000, 2500, 4000))


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
    with pytest.raises(SystemExit):
        main(["--help"])
    out = "".join(capsys.readouterr().out.split())                            # argparse wraps lines (also at hyphens)
    assert all(name in out for name in EXPERIMENTS)                            # --help names every experiment


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


CLI_ERRORS = [  # (arguments, what the one line must say)
    (["table99"], "registered: table18"),
    (["table18", "--scale", "huge"], "invalid choice"),
    (["table18", "--bogus"], "unrecognized arguments"),
    (["table18", "--set", "num_layers=abc"], "num_layers: expects an integer, got 'abc'"),
    (["table18", "--set", "lam=x"], "lam: expects a number"),
    (["table18", "--set", "dtype=foo"], "dtype must be float32 or float64"),
    (["table18", "--set", "num_classes=11"], "num_classes must be between 1 and 10"),
    (["table18", "--set", "split=train"], "split must be one of"),
    (["table18", "--set", "eps_sq_grid="], "non-empty comma-separated list"),
    (["table18", "--set", "layers=3"], "unknown Table18Config field 'layers'"),
    (["table18", "--set", "num_layers"], "KEY=VALUE"),
    (["table18", "--tag", "../x"], "--tag must be a plain file-name part"),
    (["table18", "--device", "tpu9"], "--device"),
    (["table18", "--data", "{tmp}/nowhere"], "run `make data`"),
    (["table18", "--out", "{tmp}/a-file"], "not a folder"),
]


@pytest.mark.parametrize("args,says", CLI_ERRORS, ids=[" ".join(a) for a, _ in CLI_ERRORS])
def test_cli_errors_are_one_line_exit_2(tmp_path, args, says):
    "From a shell, as a user types it: one line on stderr, exit status 2, no traceback, nothing written."
    (tmp_path / "a-file").write_text("")
    write_fake_mnist(tmp_path / "mnist", per_class=3)
    script = Path(sys.executable).parent / "redunet-reproduce"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "redunet_book.reproduce"]
    env = {**os.environ, "REDUNET_DATA": str(tmp_path / "mnist")}
    out = [] if "--out" in args else ["--out", str(tmp_path / "out")]
    proc = subprocess.run([*cmd, *(a.format(tmp=tmp_path) for a in args), *out], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert says in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cli_cuda_without_cuda_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["table18", "--device", "cuda"])
    assert stop.value.code == 2 and "CUDA is not available here" in capsys.readouterr().err


def test_cli_checks_before_running(tmp_path, monkeypatch, capsys):
    "An unwritable --out or a bad --tag is found before the experiment runs (a paper-scale run is never lost)."
    import redunet_book.reproduce as rep
    monkeypatch.setattr(rep, "run_experiment", lambda *a, **k: pytest.fail("the experiment ran"))
    write_fake_mnist(tmp_path / "mnist", per_class=3)
    blocked = tmp_path / "file"
    blocked.write_text("")
    for extra in (["--out", str(blocked / "sub")], ["--tag", "a b"], ["--out", str(blocked)]):
        with pytest.raises(SystemExit) as stop:
            main(["table18", "--scale", "paper", "--data", str(tmp_path / "mnist"), *extra])
        assert stop.value.code == 2
    assert capsys.readouterr().err.count("\n") == 3


def test_cli_data_root_stays_a_string_and_data_is_restored(tmp_path, monkeypatch):
    monkeypatch.delenv("REDUNET_DATA", raising=False)
    assert parse_override("data_root=2024", Table18Config) == ("data_root", "2024")
    write_fake_mnist(tmp_path / "mnist", per_class=6)
    path = main(["table18", "--out", str(tmp_path / "r"), "--device", "cpu", "--data", str(tmp_path / "mnist"),
                 *[f"--set={k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in TINY.items()]])
    assert path.exists() and "REDUNET_DATA" not in os.environ


def test_every_preset_is_a_valid_configuration():
    for exp in EXPERIMENTS.values():
        for scale in ("book", "paper"):
            exp.config_class.preset(scale)                          # __post_init__ checks every field


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


def test_reproduce_registers_the_invariance_finetune_and_featurizer_experiments():
    assert {"table18", "rotation", "translation", "equivariance", "table2", "vmcr2-mnist"} <= set(EXPERIMENTS)


def test_every_mnist_experiment_derives_from_the_one_base():
    "One configuration base for the MNIST experiments: the data fields have one name, one type and one default place."
    mnist = {name for name, e in EXPERIMENTS.items() if issubclass(e.config_class, MNISTConfig)}
    assert mnist == {"table18", "rotation", "translation", "equivariance", "table2", "vmcr2-mnist", "slides-rotation01",
                     "slides-translation", "micl", "scattering", "feature-geometry", "label-noise", "crate"}
    for name in mnist:
        for scale in ("book", "paper"):
            cfg = EXPERIMENTS[name].config_class.preset(scale)
            classes = 2 if name.startswith("slides-") else 10                 # the slides' tables: the digits 0 and 1
            assert cfg.num_classes == classes and cfg.dtype is torch.float32 and not hasattr(cfg, "n_train_per_class")


def test_dtype_is_a_torch_dtype_and_records_keep_its_name():
    cfg = Table18Config(dtype="float64")
    assert cfg.dtype is torch.float64 and Table18Config(dtype=torch.float64) == cfg
    rec = cfg.as_record()
    assert rec["dtype"] == "float64" and json.loads(json.dumps(rec))["dtype"] == "float64"
    assert Table18Config.from_record(json.loads(json.dumps(rec))) == cfg                 # lists back to tuples, names to dtypes
    with pytest.raises(TypeError, match="Table18Config.dtype must be float32 or float64"):
        Table18Config(dtype="float16")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        Table18Config(dtype=torch.float16)


def test_records_with_old_field_names_read_back():
    "A record written before a rename is read with today's names; the record's dict is not changed."
    assert RENAMED_FIELDS == {"n_train_per_class": "train_per_class", "n_test_per_class": "test_per_class"}
    old = {"n_train_per_class": 7, "n_test_per_class": 4, "seed": 2, "dtype": "float32", "eps_sq_grid": [0.5]}
    cfg = Table18Config.from_record(old)
    assert (cfg.train_per_class, cfg.test_per_class, cfg.seed, cfg.eps_sq_grid) == (7, 4, 2, (0.5,))
    assert "n_train_per_class" in old and "train_per_class" not in old
    with pytest.raises(ValueError, match="unknown Table18Config field"):
        Table18Config.from_record({"layers": 3})


@pytest.mark.parametrize("name", ["table18", "table18-paper-seed1", "table2", "rotation", "translation", "equivariance", "micl", "scattering"])
def test_committed_records_read_back_into_their_configuration(name):
    path = REPO / "results" / f"{name}.json"
    if not path.exists():
        pytest.skip(f"no committed record {path.name}")
    rec = json.loads(path.read_text())
    cfg = EXPERIMENTS[rec["experiment"]].config_class.from_record(rec["config"])
    assert all(cfg.as_record()[k] == (tuple(v) if isinstance(v, list) else v) for k, v in rec["config"].items())   # every field


# Tiny settings of every registered MNIST experiment, for synthetic files with 6 images per class.
TINY_MNIST = {
    "table18": dict(train_per_class=3, test_per_class=2, num_layers=1, eps_sq_grid=(0.5,), eta_grid=(0.5,), num_components=2),
    "rotation": dict(train_per_class=2, test_per_class=1, num_angles=16, num_radii=3, channels_grid=(4,), num_layers=1, stride=4,
                     plain_layers=1),
    "translation": dict(train_per_class=2, test_per_class=1, channels_grid=(4,), kernel_size=3, num_layers=1, stride=14,
                        plain_layers=1),
    "equivariance": dict(train_per_class=2, test_per_class=1, channels=4, kernel_size=3, num_layers=1, top=3),
    "table2": dict(construct_per_class=2, train_per_class=3, test_per_class=2, image_size=8, channels=3, kernel_size=3,
                   num_layers=1, epochs=1, batch_size=10),
    "vmcr2-mnist": dict(train_per_class=3, test_per_class=2, steps=2, d=16, atoms_per_class=2, gram_per_class=2),
    "slides-rotation01": dict(train_per_class=2, test_per_class=1, num_angles=16, num_radii=3, channels_grid=(4,), num_layers=1,
                              stride=4, plain_layers=1, checkpoints=(0,)),
    "slides-translation": dict(train_per_class=2, test_per_class=1, channels_grid=(4,), kernel_size=3, num_layers=1, stride=14,
                               plain_layers=1, checkpoints=(0,)),
    "scattering": dict(train_per_class=3, test_per_class=2, scales=(3,), angles=(2,), layers=(1,), num_components=2),
    "feature-geometry": dict(train_per_class=3, test_per_class=2, steps=2, d=16, atoms_per_class=2, gram_per_class=2, components=2,
                             per_component=2),
    "label-noise": dict(train_per_class=3, test_per_class=2, steps=2, d=16, atoms_per_class=2, noise_ratios=(0.0, 0.5),
                        eps_sq_study=(1.0,)),
    "micl": dict(train_per_class=3, test_per_class=2, num_layers=1, validation_per_class=1, compression_eps_sq_grid=(0.5,),
                 num_components_grid=(1, 2), subspace_train_per_class=(2,), subspace_draws=1, subspace_test_per_class=4),
    "crate": dict(train_per_class=3, test_per_class=2, patch_size=14, dim=8, depth=2, heads=2, epochs=1, batch_size=8,
                  attention_images=2),
}


@pytest.mark.parametrize("name", sorted(TINY_MNIST))
def test_no_experiment_assumes_ten_classes(tmp_path, name):
    "Every registered MNIST experiment run with num_classes=3 draws, fits and reports three classes (no hard-coded 10)."
    assert set(TINY_MNIST) == {n for n, e in EXPERIMENTS.items() if issubclass(e.config_class, MNISTConfig)}
    write_fake_mnist(tmp_path, per_class=6)
    rec = run_experiment(name, "book", "cpu", data_root=str(tmp_path), verify_checksums=False, num_classes=3, **TINY_MNIST[name])
    json.dumps(rec)
    r, cfg = rec["results"], rec["config"]
    assert "digits 0-2" in r["data"] and cfg["num_classes"] == 3
    assert r["n_train"] == 3 * cfg["train_per_class"]
    if "n_test" in r:
        assert r["n_test"] == 3 * cfg["test_per_class"]
    if name == "equivariance":
        assert r["n_queries"] == 3 * cfg["test_per_class"] * 9
    if name == "table2":
        assert r["n_construct"] == 3 * cfg["construct_per_class"]
    if name == "vmcr2-mnist":
        assert all(r[m]["evaluation"]["components"] == 16 // 3 and len(r[m]["gram"]) == 6 for m in ("ce", "mcr2", "vmcr2"))
    if name in ("rotation", "translation"):
        assert r["rows"][0]["train_acc"] == 1.0 and r["rows"][0]["cos_pairs"] > 0
    if name == "feature-geometry":
        for m in ("ce", "mcr2", "vmcr2"):
            assert len(r[m]["class_rank"]) == 3 and len(r[m]["subspace_cos"]) == 3 and len(r[m]["gram"]) == 6
            assert [len(r[m]["principal_images"]), len(r[m]["principal_images"][0]), len(r[m]["principal_images"][0][0])] == [3, 2, 2]
    if name == "label-noise":
        assert [(row["ratio"], row["method"], row["eps_sq"]) for row in r["rows"]] == [
            (q, m, e) for q in (0.0, 0.5) for m, e in (("ce", 0.5), ("mcr2", 0.5), ("vmcr2", 0.5), ("mcr2", 1.0))]
        assert all(row["redrawn"] == (4 if row["ratio"] else 0) and row["wrong"] <= row["redrawn"] for row in r["rows"])
        assert all(("head_accuracy" in row) == (row["method"] == "ce") for row in r["rows"])
    if name == "micl":
        assert r["n_fit"] + r["n_validation"] == r["n_train"] and r["n_validation"] == 3
        assert all(r[part][rule]["chosen"] in r[part][rule]["grid"] for part in ("raw", "redunet")
                   for rule in ("micl", "rate", "nearest_subspace"))


def test_table2_head_and_invariance_network_have_k_outputs(tmp_path):
    "The parts of the networks whose size is k follow num_classes."
    from redunet_book.finetune import Table2Config, run_table2
    from redunet_book.invariance import RotationConfig, invariance_data, invariant_network
    write_fake_mnist(tmp_path, per_class=6)
    t2 = run_table2(Table2Config(num_classes=3, data_root=str(tmp_path), verify_checksums=False, **TINY_MNIST["table2"]), "cpu",
                    keep=True)
    assert all(m.head.out_features == 3 for m in t2["models"].values())
    rot = RotationConfig(num_classes=3, data_root=str(tmp_path), verify_checksums=False, **TINY_MNIST["rotation"])
    d = invariance_data(rot, "cpu")
    _, net = invariant_network(d, 4, rot)
    assert net.layers[0].C.shape[0] == 3


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
