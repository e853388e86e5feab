"""Tests of the CRATE experiment (nbs/10f_crate_mnist.ipynb): the ViT beside CRATE, training, the layer-by-layer
measurements against the chapter 08a functions, the class-token attention, the configuration and the run on synthetic files."""
import json

import pytest
import torch

from conftest import write_fake_mnist
from redunet_book.crate import CRATE, subspace_coding_rate
from redunet_book.crate_mnist import (CRATE_PAPER_MODELS, CRATEMNISTConfig, ViT, accuracy_of, class_token_attention, crate_mnist_data,
                                      layer_measures, parameter_count, run_crate_mnist, train_classifier)
from redunet_book.experiments import run_experiment


def test_vit_and_crate_share_embedding_and_head_and_count():
    torch.manual_seed(0)
    crate, vit = CRATE(28, 7, 1, 10, 32, 2, 4), ViT(28, 7, 1, 10, 32, 2, 4)
    x = torch.rand(3, 1, 28, 28)
    assert crate(x).shape == vit(x).shape == (3, 10)
    emb = lambda m: sum(p.numel() for p in m.embedding.parameters())     # noqa: E731
    assert emb(crate) == emb(vit)
    assert parameter_count(crate.layers[0]) == 3 * 32 * 32 + 4 * 32
    assert parameter_count(vit) > 3 * parameter_count(crate)


def test_training_lowers_the_loss_and_accuracy_is_a_fraction():
    torch.manual_seed(1)
    X, y = torch.randn(40, 1, 8, 8), torch.arange(4).repeat(10)
    X = X + 2 * y[:, None, None, None].float()                           # separable classes
    net = CRATE(8, 4, 1, 4, 16, 2, 2)
    run = train_classifier(net, X, y, epochs=6, batch_size=10, lr=3e-3, generator=torch.Generator().manual_seed(0))
    assert len(run["loss"]) == len(run["seconds"]) == 6 and run["loss"][-1] < run["loss"][0]
    assert 0 <= accuracy_of(net, X, y) <= 1 and not net.training


def test_layer_measures_match_the_definitions():
    torch.manual_seed(2)
    net = CRATE(8, 4, 1, 3, 8, 2, 2).double()
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64)
    m = layer_measures(net, x, eps_sq=0.5, batch_size=2)
    tr = net.trace(x)
    for ell in range(2):
        U = net.layers[ell].mssa.U.detach()
        assert m["compression"][ell] == pytest.approx(float(subspace_coding_rate(tr[ell]["half"].detach(), U, 0.5).mean()), rel=1e-5)
        assert m["sparsity"][ell] == pytest.approx(float((tr[ell]["out"] != 0).double().mean()), rel=1e-5)
    assert set(m) == {"compression", "compression_input", "compression_unit", "sparsity", "first_order_t"}
    att = class_token_attention(net, x)
    assert att.shape == (5, 2, 2, 2, 2) and (att.sum((-2, -1)) <= 1 + 1e-12).all()


def test_config_presets_and_paper_sizes():
    book, paper = CRATEMNISTConfig.preset("book"), CRATEMNISTConfig.preset("paper")
    assert (book.patch_size, book.dim, book.depth, book.heads) == (7, 64, 4, 4)
    assert (paper.train_per_class, paper.test_per_class, paper.patch_size, paper.split) == (500, None, 4, "auto")
    assert CRATEMNISTConfig.from_record(json.loads(json.dumps(paper.as_record()))) == paper
    assert CRATE_PAPER_MODELS["tiny"] == dict(dim=384, depth=12, heads=6)
    with pytest.raises(ValueError, match="patch_size"):
        CRATEMNISTConfig(patch_size=6)


def test_run_on_synthetic_files(tmp_path):
    write_fake_mnist(tmp_path, per_class=6)
    cfg = dict(data_root=str(tmp_path), verify_checksums=False, train_per_class=3, test_per_class=2, patch_size=14, dim=8, depth=2,
               heads=2, epochs=2, batch_size=10, attention_images=3)
    rec = run_experiment("crate", "book", "cpu", **cfg)
    json.dumps(rec)
    r = rec["results"]
    assert r["n_train"] == 30 and r["n_test"] == 20 and r["crate"]["attention_labels"] == [0, 1, 2]
    assert len(r["crate"]["layers"]["compression"]) == 2 and len(r["crate"]["attention"][0]) == 2
    assert r["crate"]["parameters"] < r["vit"]["parameters"]
    again = run_crate_mnist(CRATEMNISTConfig(**cfg), "cpu")
    assert again["crate"]["test_acc"] == r["crate"]["test_acc"]            # deterministic
    d = crate_mnist_data(CRATEMNISTConfig(**cfg))
    assert abs(float(d["X_train"].mean())) < 1e-4 and abs(float(d["X_train"].std()) - 1) < 1e-3   # standardised on the training set


@pytest.mark.skipif(not __import__("pathlib").Path(__file__).resolve().parents[1].joinpath("results", "crate.json").exists(),
                    reason="no committed paper-scale record")
def test_committed_record_reads_back():
    from pathlib import Path
    rec = json.loads((Path(__file__).resolve().parents[1] / "results" / "crate.json").read_text())
    cfg = CRATEMNISTConfig.from_record(rec["config"])
    assert rec["scale"] == "paper" and cfg == CRATEMNISTConfig.paper().with_overrides(**{k: v for k, v in rec["overrides"].items()})
    assert len(rec["results"]["crate"]["layers"]["compression"]) == cfg.depth
