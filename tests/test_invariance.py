"""Tests for redunet_book.invariance: shifts, equivariance of lifting + spectral ReduNet, cosine statistics, runners."""

import pytest
import torch

from redunet_book.core import normalize
from redunet_book.experiments import EXPERIMENTS
from conftest import write_fake_mnist
from redunet_book.invariance import (EquivarianceConfig, RotationConfig, TABLE14_PAPER, TABLE15_PAPER, TranslationConfig,
                                     all_shifts, canonical_shifts, cosine_histogram, cross_class_cosines, invariance_data,
                                     invariant_network, run_equivariance, run_invariance, shifted_by_equivariance, shifted_features,
                                     top_neighbours)


FAKE = dict(train_per_class=2, test_per_class=1, verify_checksums=False)
TINY_ROT = dict(num_angles=16, num_radii=3, channels_grid=(4,), num_layers=2, stride=4, plain_layers=2, **FAKE)
TINY_TR = dict(channels_grid=(4,), kernel_size=3, num_layers=1, stride=14, plain_layers=1, **FAKE)


def test_presets_follow_the_paper():
    p = RotationConfig.paper()
    assert (p.train_per_class, p.num_angles, p.num_radii, p.kernel_size, p.num_layers, p.stride) == (10, 200, 15, 5, 40, 10)
    assert p.channels_grid == tuple(TABLE14_PAPER["channels"]) and (p.eps_sq, p.eta, p.lam) == (0.1, 0.5, 500.0)
    t = TranslationConfig.paper()
    assert (t.kernel_size, t.num_layers, t.stride) == (9, 25, 7) and t.channels_grid == tuple(TABLE15_PAPER["channels"])
    e = EquivarianceConfig.paper()
    assert (e.train_per_class, e.channels, e.kernel_size, e.num_layers, e.shift) == (50, 16, 7, 30, 7)
    assert {"rotation", "translation", "equivariance"} <= set(EXPERIMENTS)


def test_all_shifts_are_literal_rolls():
    x = torch.randn(3, 2, 10, dtype=torch.float64)
    xs = all_shifts(x, 3)
    assert xs.shape == (3, 4, 2, 10)
    for s, t in enumerate(range(0, 10, 3)):
        assert torch.equal(xs[:, s], torch.cat([x[..., -t:], x[..., :-t]], -1) if t else x)
    im = torch.randn(2, 1, 6, 6)
    assert torch.equal(all_shifts(im, 3)[:, 3], torch.roll(im, (3, 3), (-2, -1)))
    with pytest.raises(ValueError, match="X must have shape"):
        all_shifts(torch.zeros(2, 3), 1)
    with pytest.raises(ValueError, match="stride"):
        all_shifts(x, 0)


def test_cosines_against_a_loop(gen):
    A, B = torch.randn(5, 4, generator=gen, dtype=torch.float64), torch.randn(3, 4, generator=gen, dtype=torch.float64)
    ya, yb = torch.tensor([0, 1, 1, 2, 0]), torch.tensor([1, 0, 2])
    want = [abs(float(a @ b / a.norm() / b.norm())) for i, a in enumerate(A) for j, b in enumerate(B) if ya[i] != yb[j]]
    got = cross_class_cosines(A, ya, B, yb)
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))
    h = cosine_histogram(got, 7)
    assert len(h) == 7 and sum(h) == got.numel()


def test_network_is_shift_equivariant(tmp_path):
    write_fake_mnist(tmp_path)
    for cfg in (RotationConfig(data_root=str(tmp_path), dtype="float64", **TINY_ROT),
                TranslationConfig(data_root=str(tmp_path), dtype="float64", **TINY_TR)):
        d = invariance_data(cfg, "cpu")
        lift, net = invariant_network(d, cfg.channels_grid[0], cfg)
        Xs, Zs = shifted_features(lift, net, d["X_test"], cfg.stride)
        dims = tuple(range(-d["dims"], 0))
        shifts = [(t,) for t in range(0, d["X_test"].shape[-1], cfg.stride)] if d["dims"] == 1 else \
                 [(a, b) for a in range(0, 28, cfg.stride) for b in range(0, 28, cfg.stride)]
        for s, sh in enumerate(shifts):
            torch.testing.assert_close(Zs[:, s], torch.roll(Zs[:, 0], sh, dims), rtol=1e-7, atol=1e-8)


def test_run_invariance_is_complete_and_deterministic(tmp_path):
    write_fake_mnist(tmp_path)
    cfg = RotationConfig(data_root=str(tmp_path), **TINY_ROT)
    a, b = run_invariance(cfg, "cpu"), run_invariance(cfg, "cpu")
    row = a["rows"][0]
    assert row["train_acc"] == 1.0 and row["shifts"] == 4 and row["layers"] == 2
    assert sum(row["cos_features_hist"]) == row["cos_pairs"]
    assert row["best_shift_train_acc"] == 1.0
    for k in ("test_acc", "invariance_train_acc", "invariance_test_acc", "augmented_test_acc", "best_shift_test_acc"):
        assert 0 <= row[k] <= 1 and row[k] == b["rows"][0][k]
    assert len(row["delta_r_train"]) == 3 and row["delta_r_train"][-1] > row["delta_r_train"][0]
    assert {"raw_test_acc", "test_acc", "invariance_test_acc"} <= set(a["plain"])
    assert "tensors" not in row and "labels" not in a                 # JSON-ready


def test_translation_runner(tmp_path):
    write_fake_mnist(tmp_path)
    out = run_invariance(TranslationConfig(data_root=str(tmp_path), **TINY_TR), "cpu", keep=True)
    assert out["rows"][0]["shifts"] == 4 and out["rows"][0]["tensors"]["Zs_train"].shape[:2] == (20, 4)


def test_neighbours_and_canonical_shifts(gen):
    Q, Z = torch.randn(4, 6, generator=gen), torch.randn(9, 6, generator=gen)
    want = (normalize(Q) @ normalize(Z).T).abs().argsort(1, descending=True)[:, :3]
    assert torch.equal(top_neighbours(Q, Z, 3), want)
    x = torch.randn(2, 1, 8, 8, generator=gen)
    xs, sh = canonical_shifts(x, 2)
    assert len(sh) == 9 and all(torch.equal(xs[:, i], torch.roll(x, s, (-2, -1))) for i, s in enumerate(sh))


def test_equivariance_runner(tmp_path):
    write_fake_mnist(tmp_path)
    out = run_equivariance(EquivarianceConfig(channels=4, kernel_size=3, num_layers=1, data_root=str(tmp_path), **FAKE), "cpu")
    assert out["n_queries"] == 90 and out["chance_same_shift"] == pytest.approx(1 / 9)
    assert out["same_shift_top1"] > out["chance_same_shift"]


def test_figures_of_kept_results(tmp_path):
    "The viz helpers draw what the runners return with keep=True (Fig. 16's four panels, Fig. 30)."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from redunet_book.viz import plot_invariance, plot_neighbours
    write_fake_mnist(tmp_path)
    res = run_invariance(RotationConfig(data_root=str(tmp_path), **TINY_ROT), "cpu", keep=True)
    fig = plot_invariance(res, "rotation:")
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "rotation: inputs, all shifts"   # 4 panels + 2 colour bars
    plt.close(fig)
    eq = run_equivariance(EquivarianceConfig(channels=4, kernel_size=3, num_layers=1, top=4, data_root=str(tmp_path), **FAKE),
                          "cpu", keep=True)
    fig = plot_neighbours(eq, query=9 + 4, columns=3)                 # image 1, unshifted: 1 query + 4 neighbours
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "query (0, 0)" and not fig.axes[5].axison
    plt.close(fig)


def test_invariance_on_device(tmp_path, device):
    write_fake_mnist(tmp_path)
    out = run_invariance(RotationConfig(data_root=str(tmp_path), **TINY_ROT), device)
    assert out["rows"][0]["train_acc"] == 1.0


def test_best_shift_rule_is_invariant(gen):
    from redunet_book.invariance import best_shift_accuracy
    Z = torch.randn(6, 2, 8, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    Zs = all_shifts(Z, 1)                                                # (6, 8, 2, 8)
    rolled = torch.roll(Zs, 3, dims=1)                                   # the same groups, listed from another shift
    assert best_shift_accuracy(Z, y, Zs, y, 2) == best_shift_accuracy(Z, y, rolled, y, 2) == 1.0


# ---------------------------------------------------------------- the slides' plain-vs-invariant tables

from redunet_book.invariance import (SlidesRotationConfig, SlidesTranslationConfig, invariance_row, lifting, ns_accuracy,  # noqa: E402
                                     run_slides, slides_draw)

SLIDES_TINY = dict(channels_grid=(4,), num_layers=2, plain_layers=2, checkpoints=(0, 1), verify_checksums=False)


def test_slides_presets_follow_the_slides():
    "The slides' protocols: digits 0 and 1; 2000 + 1980 images, C = 5, L = 3500; 1000 + 500 images, C = 5, L = 2000."
    r, t = SlidesRotationConfig.paper(), SlidesTranslationConfig.paper()
    assert (r.num_classes, 2 * r.train_per_class, 2 * r.test_per_class, r.channels_grid, r.num_layers) == (2, 2000, 1980, (5,), 3500)
    assert (t.num_classes, 2 * t.train_per_class, 2 * t.test_per_class, t.channels_grid, t.num_layers) == (2, 1000, 500, (5,), 2000)
    assert (r.num_angles, r.num_radii, r.stride) == (200, 15, 10) and t.stride == 7
    assert {"slides-rotation01", "slides-translation"} <= set(EXPERIMENTS)


def test_slides_draw_takes_the_largest_balanced_draw(tmp_path):
    "From a test split too small for the sizes asked, the largest balanced disjoint draw in the same proportion."
    write_fake_mnist(tmp_path, per_class=7)
    cfg, note = slides_draw(SlidesRotationConfig(train_per_class=10, test_per_class=10, data_root=str(tmp_path), **SLIDES_TINY))
    assert (cfg.train_per_class, cfg.test_per_class, cfg.split) == (3, 4, "test") and "7 images" in note
    small = SlidesRotationConfig(train_per_class=2, test_per_class=3, data_root=str(tmp_path), **SLIDES_TINY)
    assert slides_draw(small)[0] is small
    with pytest.raises(TypeError, match="config"):
        slides_draw(RotationConfig(data_root=str(tmp_path)))


def test_run_slides_matches_fit_then_forward(tmp_path):
    "The one-pass run gives the accuracies of the stored network (fit, forward, nearest subspace), for both tables."
    write_fake_mnist(tmp_path, per_class=6)
    geo = dict(num_angles=16, num_radii=3, stride=4)
    for cfg in (SlidesRotationConfig(train_per_class=3, test_per_class=3, data_root=str(tmp_path), dtype="float64", **geo, **SLIDES_TINY),
                SlidesTranslationConfig(train_per_class=3, test_per_class=3, data_root=str(tmp_path), dtype="float64",
                                        kernel_size=3, stride=14, **SLIDES_TINY)):
        out = run_slides(cfg, "cpu")
        d = invariance_data(cfg, "cpu")
        S = out["shifts"]
        assert (out["n_train"], out["n_test"], S) == (6, 6, 4) and sorted(out["rows"][0]["by_depth"]) == ["0", "1", "2"]
        lift, net = invariant_network(d, 4, cfg)
        with torch.no_grad():
            Z_tr, Z_te = net(lift(d["X_train"])), net(lift(d["X_test"]))
            Z_sh = net(lift(all_shifts(d["X_test"], cfg.stride).flatten(0, 1)))
        ref = ns_accuracy(Z_tr, d["y_train"], dict(test_acc=(Z_te, d["y_test"]),
                                                   invariance_test_acc=(Z_sh, d["y_test"].repeat_interleave(S))), 10, 2)
        row = out["rows"][0]
        assert (row["test_acc"], row["invariance_test_acc"]) == (ref["test_acc"], ref["invariance_test_acc"])
        assert torch.allclose(torch.tensor(row["delta_r_train"]), net.history[:, 2].float(), atol=1e-5)
        assert out["plain"]["shifted_images"] == 6 and out["plain"]["n_shifted"] == 6 * S


def test_run_slides_plain_subset_and_bad_checkpoints(tmp_path):
    write_fake_mnist(tmp_path, per_class=6)
    cfg = SlidesRotationConfig(train_per_class=3, test_per_class=3, data_root=str(tmp_path), num_angles=16, num_radii=3, stride=4,
                               plain_shifted_per_class=1, **SLIDES_TINY)
    out = run_slides(cfg, "cpu")
    assert out["plain"]["shifted_images"] == 2 and out["plain"]["n_shifted"] == 2 * out["shifts"]
    with pytest.raises(ValueError, match="checkpoints"):
        run_slides(cfg.with_overrides(checkpoints=(-1,)), "cpu")
    with pytest.raises(TypeError, match="config"):
        run_slides(RotationConfig(data_root=str(tmp_path)), "cpu")
    assert callable(lifting) and callable(invariance_row)


def test_cosine_heatmap_is_the_sorted_cosine_matrix_block_averaged():
    from redunet_book.invariance import cosine_heatmap
    A = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([1, 0, 1, 0, 0, 1])
    order = torch.tensor([1, 3, 4, 0, 2, 5])
    An = A / A.norm(dim=1, keepdim=True)
    full = (An[order] @ An[order].T).abs()
    assert torch.allclose(torch.tensor(cosine_heatmap(A, y, 6), dtype=torch.float64), full, atol=5e-4)
    half = torch.tensor(cosine_heatmap(A, y, 3), dtype=torch.float64)                     # 2 × 2 blocks
    assert half.shape == (3, 3) and abs(float(half[0, 1]) - float(full[:2, 2:4].mean())) < 5e-4
    with pytest.raises(ValueError, match="y"):
        cosine_heatmap(A, y[:5], 3)


def test_run_slides_by_equivariance_equals_the_direct_map(tmp_path):
    "Shifting the features of the unshifted test images gives the accuracy of mapping every shifted image (float64)."
    write_fake_mnist(tmp_path, per_class=6)
    cfg = SlidesTranslationConfig(train_per_class=3, test_per_class=3, data_root=str(tmp_path), dtype="float64", kernel_size=3,
                                  stride=14, plain_layers=0, **{k: v for k, v in SLIDES_TINY.items() if k != "plain_layers"})
    direct, by_eq = run_slides(cfg, "cpu")["rows"][0], run_slides(cfg.with_overrides(direct_shifted_per_class=1), "cpu")["rows"][0]
    assert by_eq["invariance_test_acc"] == direct["invariance_test_acc"] and by_eq["shifted_images"] == 2
    assert by_eq["equivariance_max_abs_diff"] < 1e-12 and by_eq["shifted_features_acc"] == by_eq["direct_shifted_acc"]
    assert "equivariance_max_abs_diff" not in direct and "augmented_invariance_test_acc" in by_eq


def test_invariance_rows_by_equivariance_equal_the_direct_map(tmp_path):
    "Tables 14/15 with the shifted features taken by equivariance: the same row as mapping every shift (float64, 1D and 2D)."
    write_fake_mnist(tmp_path)
    for cfg in (RotationConfig(data_root=str(tmp_path), dtype="float64", **TINY_ROT),
                TranslationConfig(data_root=str(tmp_path), dtype="float64", **TINY_TR)):
        direct = run_invariance(cfg.with_overrides(plain_layers=0), "cpu")["rows"][0]
        by_eq = run_invariance(cfg.with_overrides(plain_layers=0, direct_shifted_per_class=1), "cpu")["rows"][0]
        assert by_eq["equivariance_max_abs_diff"] < 1e-12 and "equivariance_max_abs_diff" not in direct
        for key in ("invariance_train_acc", "invariance_test_acc", "augmented_test_acc", "best_shift_test_acc",
                    "cos_features_hist", "heatmap_features", "heatmap_inputs"):
            assert by_eq[key] == direct[key], key
        assert abs(by_eq["cos_features_mean"] - direct["cos_features_mean"]) < 1e-12


def test_shifted_by_equivariance_checks_the_samples_it_is_given(tmp_path):
    "The returned difference is that of the direct map of `direct`'s shifts; a broken equivariance shows in it."
    write_fake_mnist(tmp_path)
    cfg = TranslationConfig(data_root=str(tmp_path), dtype="float64", **TINY_TR)
    d = invariance_data(cfg, "cpu")
    lift, net = invariant_network(d, cfg.channels_grid[0], cfg)
    Xs, Zs, diff = shifted_by_equivariance(lift, net, d["X_test"], cfg.stride, torch.arange(2))
    Xd, Zd = shifted_features(lift, net, d["X_test"], cfg.stride)
    torch.testing.assert_close(Zs, Zd, rtol=1e-10, atol=1e-12)
    assert torch.equal(Xs, Xd) and diff < 1e-12
    class Weighted(torch.nn.Module):                         # a lifting that is not translation equivariant
        def forward(self, X):
            return lift(X) * torch.arange(1, X.shape[-1] + 1, dtype=X.dtype)
    _, _, broken = shifted_by_equivariance(Weighted(), net, d["X_test"], cfg.stride, torch.arange(2))
    assert broken > 1e-3
    _, _, none = shifted_by_equivariance(lift, net, d["X_test"], cfg.stride, torch.arange(0))
    assert none == 0.0


def test_plain_comparison_equals_fit_then_forward(tmp_path):
    "The plain network built and applied in one pass (one layer in memory) gives the accuracies of `fit` then `forward` (float64)."
    from redunet_book.core import normalize as unit
    from redunet_book.invariance import ns_accuracy, plain_comparison
    from redunet_book.vector import ReduNet
    write_fake_mnist(tmp_path)
    cfg = TranslationConfig(data_root=str(tmp_path), dtype="float64", **{**TINY_TR, "plain_layers": 3})
    d = invariance_data(cfg, "cpu")
    got = plain_comparison(d, cfg)
    flat = lambda X: unit(X.flatten(1))                                        # noqa: E731
    net = ReduNet(cfg.plain_layers, cfg.eta, cfg.eps_sq, cfg.lam).fit(flat(d["X_train"]), d["y_train"], num_classes=10)
    Xs = all_shifts(d["X_test"], cfg.stride)
    with torch.no_grad():
        Z_tr, Z_te, Zs = net(flat(d["X_train"])), net(flat(d["X_test"])), net(flat(Xs.flatten(0, 1)))
    want = ns_accuracy(Z_tr, d["y_train"], dict(test_acc=(Z_te, d["y_test"]),
                                                 invariance_test_acc=(Zs, d["y_test"].repeat_interleave(Xs.shape[1]))),
                       cfg.num_components, 10)
    assert got["layers"] == cfg.plain_layers == len(net.layers)
    assert (got["test_acc"], got["invariance_test_acc"]) == (want["test_acc"], want["invariance_test_acc"])
