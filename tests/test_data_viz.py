"""Tests for redunet_book.data (synthetic subspaces) and redunet_book.viz (plot helpers)."""
import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from matplotlib.figure import Figure

from redunet_book.data import random_orthonormal_basis, subspace_samples
from redunet_book.viz import plot_rate_bars, plot_rate_curves


def test_orthonormal_basis(gen):
    U = random_orthonormal_basis(7, 4, gen)
    torch.testing.assert_close(U.T @ U, torch.eye(4, dtype=torch.float64))
    assert random_orthonormal_basis(5, 2, dtype=torch.float32).dtype == torch.float32
    with pytest.raises(ValueError, match="d must be <= n"):
        random_orthonormal_basis(3, 4)
    with pytest.raises(TypeError, match="n must be an int"):
        random_orthonormal_basis(3.0, 2)


@pytest.mark.parametrize("orthogonal", [True, False])
def test_subspace_samples_structure(orthogonal, gen):
    dims = [2, 3, 1]
    Z, y = subspace_samples(dims, n=12, samples_per_class=[20, 30, 10], orthogonal=orthogonal, generator=gen)
    assert Z.shape == (60, 12) and y.tolist() == [0] * 20 + [1] * 30 + [2] * 10
    torch.testing.assert_close(Z.norm(dim=1), torch.ones(60, dtype=torch.float64))
    for j, d in enumerate(dims):
        assert torch.linalg.matrix_rank(Z[y == j]) == d
    cross = (Z[y == 0] @ Z[y == 1].T).abs().max()
    assert (cross < 1e-12) if orthogonal else (cross > 1e-3)


def test_subspace_samples_is_reproducible_and_noisy():
    a = subspace_samples([2, 2], 6, 5, generator=torch.Generator().manual_seed(3))[0]
    b = subspace_samples([2, 2], 6, 5, generator=torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b)
    Zn, y = subspace_samples([1, 1], 6, 50, noise=0.1, generator=torch.Generator().manual_seed(0))
    assert torch.linalg.matrix_rank(Zn[y == 0]) == 6


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(subspace_dims=[3, 3], n=5, samples_per_class=4), ValueError, "sum\\(subspace_dims\\)=6 <= n=5"),
    (dict(subspace_dims=[], n=5, samples_per_class=4), ValueError, "at least one"),
    (dict(subspace_dims=[1, 2], n=5, samples_per_class=[4]), ValueError, "samples_per_class has 1 entries"),
    (dict(subspace_dims=[1, 0], n=5, samples_per_class=4), ValueError, "subspace_dims entries must be >= 1"),
    (dict(subspace_dims=[1, 2], n=5, samples_per_class=4, noise=-1.0), ValueError, "noise must be a finite number >= 0"),
])
def test_subspace_samples_rejects(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        subspace_samples(**kwargs)


def test_plot_helpers():
    fig = plot_rate_bars({"R": torch.tensor(2.0), "Rc": 1.0, "ΔR": 1.0}, title="t")
    assert isinstance(fig, Figure) and len(fig.axes[0].patches) == 3
    fig = plot_rate_curves([1, 2], {"R": [1, 2], "ΔR": [0.5, 0.7]}, xlabel="d")
    assert [line.get_label() for line in fig.axes[0].lines] == ["R", "ΔR"]
    with pytest.raises(ValueError, match="at least one rate"):
        plot_rate_bars({})
    with pytest.raises(ValueError, match="has 1 points but x has 2"):
        plot_rate_curves([1, 2], {"R": [1]}, xlabel="d")


def test_cosine_similarity_matrix_sorted_and_safe():
    from redunet_book.viz import cosine_similarity_matrix, plot_cosine_heatmap
    Z = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    cos, order = cosine_similarity_matrix(Z, torch.tensor([1, 0, 1, 0]))
    assert order.tolist() == [1, 3, 0, 2]
    assert torch.isfinite(cos).all() and float(cos[2, 2]) == 0.0          # the zero row gives 0, not NaN
    torch.testing.assert_close(cos[0, 1], torch.tensor(2 ** -0.5, dtype=torch.float64))
    torch.testing.assert_close(cos, cos.T)
    with pytest.raises(ValueError, match="labels"):
        cosine_similarity_matrix(Z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="Z"):
        cosine_similarity_matrix(torch.ones(3))
    fig = plot_cosine_heatmap(Z, torch.tensor([1, 0, 1, 0]))
    assert len(fig.axes[0].lines) == 2                                    # one boundary line each way


def test_cosine_heatmap_some_classes(gen):
    "`classes=` keeps the samples of those classes only (V-MCR² Fig. 2 shows 10 of 100 classes); no colour bar on request."
    from redunet_book.viz import plot_cosine_heatmap
    Z, y = subspace_samples([1, 2, 1], 5, 10, generator=gen)
    fig = plot_cosine_heatmap(Z, y + 3, title="t", classes=[4, 5], colorbar=False)
    assert fig.axes[0].images[0].get_array().shape == (20, 20) and len(fig.axes) == 1
    assert len(fig.axes[0].lines) == 2                                    # one class boundary, drawn both ways
    with pytest.raises(ValueError, match="classes needs"):
        plot_cosine_heatmap(Z, None, classes=[1])


def test_sphere_helpers(gen):
    import matplotlib.pyplot as plt
    from redunet_book.viz import CLASS_COLORS, plot_sphere_features
    Z, y = subspace_samples([1, 1, 1], n=3, samples_per_class=5, orthogonal=False, noise=0.1, generator=gen)
    fig = plot_sphere_features(Z, y, title="s")
    assert fig.axes[0].name == "3d" and fig.axes[0].get_title() == "s"
    assert fig.axes[0].get_legend_handles_labels()[1] == ["class 0", "class 1", "class 2"]
    assert tuple(fig.axes[0].collections[-1].get_facecolor()[0][:3]) == pytest.approx(CLASS_COLORS[2])
    plt.close(fig)
    with pytest.raises(ValueError, match="2 or 3"):
        plot_sphere_features(torch.zeros(3, 4, dtype=torch.float64), torch.zeros(3, dtype=torch.long))


def test_maths_modules_import_no_plotting():
    "Only viz imports matplotlib: the maths and experiment modules load neither pyplot nor matplotlib (0.7 s saved)."
    import subprocess
    import sys
    mods = ["vector", "operators", "spectral", "vmcr2", "gaussians", "invariance", "experiments", "finetune", "reproduce"]
    code = ("import sys\n" + "".join(f"import redunet_book.{m}\n" for m in mods)
            + "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('matplotlib', 'IPython', 'ipywidgets')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_figure_controls_redraws_in_place():
    import ipywidgets as widgets
    from redunet_book.viz import figure_controls
    seen = []

    def draw(n, label):
        seen.append((n, label))
        return plot_rate_bars({"R": n, "Rc": n / 2, "ΔR": n / 2}, title=label)

    n, label = widgets.IntSlider(value=2, min=1, max=5), widgets.Dropdown(options=["a", "b"], value="a")
    box, handle = figure_controls(draw, n=n, label=label)
    assert box.children == (n, label) and handle.display_id
    n.value, label.value = 3, "b"
    assert seen == [(2, "a"), (3, "a"), (3, "b")]
    with pytest.raises(TypeError, match="draw"):
        figure_controls(None, n=n)
    with pytest.raises(TypeError, match="controls"):
        figure_controls(draw)
    with pytest.raises(TypeError, match="controls"):
        figure_controls(draw, n=3)
