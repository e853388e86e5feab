"""Tests for redunet_book.gaussians: the mixtures of §5.2 / Appendix E.4 and the experiment runner."""
import json
import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from redunet_book.core import make_generator
from redunet_book.gaussians import (MIXTURES, GaussianConfig, cluster_accuracy, direction_cosines, gaussian_summary,
                                    leading_directions, max_offdiagonal, mixture_centers, run_gaussian_mixture,
                                    sphere_gaussian_mixture)
from redunet_book.viz import plot_gaussian_run, plot_sphere_features


@pytest.mark.parametrize("name", sorted(MIXTURES))
def test_centers_on_sphere(name):
    mu = mixture_centers(name)
    torch.testing.assert_close(mu.norm(dim=1), torch.ones(len(mu), dtype=torch.float64))
    assert mu.shape[1] in (2, 3)


def test_mixture_samples_match_the_definition(gen):
    mu = torch.tensor([[3.0, 0.0], [0.0, 0.5]], dtype=torch.float64)          # normalised inside
    X, y = sphere_gaussian_mixture(mu, 4, 0.2, make_generator(3))
    noise = torch.randn(2, 4, 2, generator=make_generator(3), dtype=torch.float64)
    raw = (torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)[:, None] + 0.2 * noise).reshape(8, 2)
    torch.testing.assert_close(X, raw / raw.norm(dim=1, keepdim=True))
    assert y.tolist() == [0] * 4 + [1] * 4


def test_bad_input():
    mu = mixture_centers("s1_two")
    with pytest.raises(ValueError, match="mixture"):
        mixture_centers("nope")
    with pytest.raises(ValueError, match="samples_per_class"):
        sphere_gaussian_mixture(mu, 0, 0.1)
    with pytest.raises(ValueError, match="sigma"):
        sphere_gaussian_mixture(mu, 5, 0.0)
    with pytest.raises(ValueError, match="centers"):
        sphere_gaussian_mixture(torch.ones(3), 5, 0.1)
    with pytest.raises(ValueError, match="mixture"):
        GaussianConfig("s4_two")


def test_config_scale(monkeypatch):
    monkeypatch.setenv("REDUNET_BOOK_SCALE", "paper")
    assert GaussianConfig("s2_three").num_layers == 2000 and GaussianConfig("s1_six").num_layers == 4000
    monkeypatch.setenv("REDUNET_BOOK_SCALE", "book")
    assert GaussianConfig("s2_three").num_layers < 2000
    assert GaussianConfig("s2_three", num_layers=7).num_layers == 7


def test_direction_cosines():
    Z = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    cos = direction_cosines(Z, y)
    torch.testing.assert_close(cos, torch.eye(2, dtype=torch.float64), atol=1e-12, rtol=0)
    assert max_offdiagonal(cos) < 1e-12
    U = leading_directions(Z, y)
    torch.testing.assert_close(U.abs(), torch.eye(2, dtype=torch.float64), atol=1e-12, rtol=0)


def test_run_small_and_deterministic():
    cfg = GaussianConfig("s1_two", samples_per_class=40, num_layers=60)
    a, b = run_gaussian_mixture(cfg), run_gaussian_mixture(cfg)
    assert torch.equal(a.Z_test, b.Z_test) and torch.equal(a.net.history, b.net.history)
    assert a.test_path.shape == (61, 80, 2) and a.test_history.shape == (61, 3)
    torch.testing.assert_close(a.Z_test.norm(dim=1), torch.ones(80, dtype=torch.float64))
    nums = gaussian_summary(a)
    assert nums["delta_r_train"][1] > nums["delta_r_train"][0]
    assert nums["max_cos_train"] < nums["max_cos_input"]
    assert cluster_accuracy(a) == 1.0
    # the test features are Algorithm 2 applied to the test inputs
    torch.testing.assert_close(a.Z_test, a.net(a.X_test))


def test_plots_and_layer_range():
    run = run_gaussian_mixture(GaussianConfig("s2_three", samples_per_class=10, num_layers=3))
    fig = plot_gaussian_run(run, 1)
    assert len(fig.axes) >= 7
    with pytest.raises(ValueError, match="layer"):
        plot_gaussian_run(run, 4)
    with pytest.raises(ValueError, match="2 or 3"):
        plot_sphere_features(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))


def test_device(device):
    run = run_gaussian_mixture(GaussianConfig("s1_two", samples_per_class=10, num_layers=5), device=device)
    assert run.Z_test.device.type == torch.device(device).type
    assert math.isfinite(gaussian_summary(run)["delta_r_test"][1])


def test_gaussian_record_is_json_and_matches_the_run():
    from redunet_book.gaussians import gaussian_record
    run = run_gaussian_mixture(GaussianConfig("s1_three", samples_per_class=20, num_layers=30))
    rec = gaussian_record(run, curve_points=7, keep_per_class=4)
    assert json.loads(json.dumps(rec)) == rec                                 # plain JSON
    assert rec["layers"] == 30 and rec["curves"]["layer"] == [0, 5, 10, 15, 20, 25, 30]
    assert all(len(v) == 7 for v in rec["curves"].values())
    assert rec["samples"]["labels"] == [0] * 4 + [1] * 4 + [2] * 4 and len(rec["samples"]["Z_test"]) == 12
    nums = gaussian_summary(run)
    assert rec["max_cos_train"] == round(nums["max_cos_train"], 6) and rec["test_cluster_accuracy"] == nums["test_cluster_accuracy"]
    assert rec["curves"]["delta_r_test"][-1] == round(float(run.test_history[-1, 2]), 6)
    # the training curve is the construction replayed: its last point is the final training features' |cos|
    assert rec["curves"]["max_cos_train"][-1] == rec["max_cos_train"]
    assert rec["curves"]["max_cos_train"][0] == rec["max_cos_input"]
    torch.testing.assert_close(torch.tensor(rec["cos_train"], dtype=torch.float64), direction_cosines(run.Z_train, run.y_train), atol=1e-6, rtol=0)
    assert 0 <= rec["spread_train"] < 90 and set(rec["layers_to_gain"]) == {"0.95", "0.99"}
    all_layers = gaussian_record(run, curve_points=500)                       # more points than layers: every layer
    assert all_layers["curves"]["layer"] == list(range(31))


def test_gaussian_record_sees_a_split_class():
    from redunet_book.gaussians import _class_spread
    Z = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    assert abs(_class_spread(Z, torch.tensor([0, 0, 1, 1])) - 90) < 1e-9      # class 0: an even antipodal pair (zero mean)
    uneven = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    assert abs(_class_spread(uneven, torch.tensor([0, 0, 0])) - 180) < 1e-6   # an uneven one: the minority points away
    assert _class_spread(Z[2:], torch.tensor([0, 0])) < 1e-6


def test_gaussian_record_bad_input():
    from redunet_book.gaussians import gaussian_record
    run = run_gaussian_mixture(GaussianConfig("s1_two", samples_per_class=5, num_layers=2))
    with pytest.raises(TypeError, match="run"):
        gaussian_record("run")
    with pytest.raises(ValueError, match="curve_points"):
        gaussian_record(run, curve_points=1)
    with pytest.raises(TypeError, match="keep_per_class"):
        gaussian_record(run, keep_per_class=2.0)
