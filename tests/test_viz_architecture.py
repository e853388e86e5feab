"""Tests for the architecture diagrams of redunet_book.viz: draw_redunet_layer, draw_spectral_pipeline, draw_vmcr2_structure."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from redunet_book.viz import draw_redunet_layer, draw_spectral_pipeline, draw_vmcr2_structure  # noqa: E402

MIN_FONT_PT = 9            # the book's rule (tests/test_site.py): no figure text under 9 points


@pytest.fixture(autouse=True)
def _close_figures():
    "No figure outlives its test."
    yield
    plt.close("all")


def texts(fig: Figure) -> list[str]:
    "The strings of every non-empty text artist of the figure."
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def layout_problems(fig: Figure) -> list[str]:
    "Text under MIN_FONT_PT, text that leaves the figure, and pairs of texts that overlap (by more than a pixel)."
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    items = [(t.get_text(), t.get_window_extent(renderer), t.get_fontsize()) for t in fig.findobj(Text) if t.get_text()]
    page = fig.bbox
    bad = [f"{s!r}: {size} pt" for s, _, size in items if size < MIN_FONT_PT]
    bad += [f"{s!r} leaves the figure" for s, b, _ in items
            if b.x0 < page.x0 - 1 or b.y0 < page.y0 - 1 or b.x1 > page.x1 + 1 or b.y1 > page.y1 + 1]
    for i, (s, a, _) in enumerate(items):
        for t, b, _ in items[i + 1:]:
            if min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1:
                bad.append(f"{s!r} overlaps {t!r}")
    return bad


# ---------------------------------------------------------------- one ReduNet layer

@pytest.mark.parametrize("k", [3, 5])
def test_layer_draws_k_gated_compression_branches(k):
    fig = draw_redunet_layer(k)
    assert isinstance(fig, Figure) and fig.get_size_inches()[0] == pytest.approx(9.0)
    found = texts(fig)
    assert [s for s in found if s.startswith("$C^{")] == [f"$C^{{{j}}}_\\ell$" for j in range(1, k + 1)]
    assert sum(s.startswith("$\\times\\gamma_") for s in found) == k          # each branch weighted by γⱼπ̂ʲ
    assert sum(s.startswith("compress ") for s in found) == k
    assert "$E_\\ell$" in found and "softmax gate" in found and "$\\mathcal{P}_{\\mathbb{S}}$" in found
    assert {"ResNet: skip + one branch", "ResNeXt: skip + many branches", "mixture of experts: gated sum"} <= set(found)


def test_layer_with_many_classes_elides_the_middle_branches():
    found = texts(draw_redunet_layer(8, analogies=False))
    assert [s for s in found if s.startswith("$C^{")] == ["$C^{1}_\\ell$", "$C^{2}_\\ell$", "$C^{3}_\\ell$", "$C^{k}_\\ell$"]
    assert "⋮" in found and not any(s.startswith("ResNet") for s in found)


def test_layer_draws_on_given_axes():
    fig, ax = plt.subplots(figsize=(9, 6))
    assert draw_redunet_layer(2, ax=ax) is fig
    assert sum(s.startswith("$C^{") for s in texts(fig)) == 2 and not ax.axison


@pytest.mark.parametrize("k", [1, 3, 5, 8])
def test_layer_is_legible(k):
    assert layout_problems(draw_redunet_layer(k)) == []


# ---------------------------------------------------------------- the spectral pipeline

def test_spectral_pipeline_labels_and_images():
    fig = draw_spectral_pipeline(channels=3, length=8, shift=2)
    assert isinstance(fig, Figure) and fig.get_size_inches()[0] == pytest.approx(9.0)
    found = texts(fig)
    for label in ("all $T$ cyclic shifts", "DFT", "$T$ blocks $\\bar E(p),\\ \\bar C^j(p)$", "$p=0$", "$p=7$",
                  "shift by $s=2$", "features $\\bar z_{\\ell+1}$"):
        assert label in found, label
    images = [torch.as_tensor(im.get_array().data) for im in fig.axes[0].images]
    assert len(images) == 2 + 3 + 2                               # signal, 3 circulants, features; the shifted pair
    signal, circulants, features, signal_s, features_s = images[0], images[1:4], images[4], images[5], images[6]
    assert signal.shape == (3, 8) and all(c.shape == (8, 8) for c in circulants)
    for c, circ in enumerate(circulants):                          # row r is channel c shifted by r
        for r in range(8):
            torch.testing.assert_close(circ[r], torch.roll(signal[c], r))
    # the visual cue is computed: the lower row is the upper row shifted by s (equivariance)
    torch.testing.assert_close(signal_s, torch.roll(signal, 2, dims=1))
    torch.testing.assert_close(features_s, torch.roll(features, 2, dims=1))


@pytest.mark.parametrize("channels, length, shift", [(3, 8, 2), (1, 3, 1), (4, 12, 11), (4, 3, 1)])
def test_spectral_pipeline_is_legible(channels, length, shift):
    assert layout_problems(draw_spectral_pipeline(channels, length, shift)) == []


# ---------------------------------------------------------------- V-MCR²

def test_vmcr2_structure_labels_and_factors():
    fig = draw_vmcr2_structure(k=3, atoms_per_class=2)
    assert isinstance(fig, Figure) and fig.get_size_inches()[0] == pytest.approx(9.0)
    found = texts(fig)
    assert any(s.startswith("Prop. 3.1:") for s in found)
    assert "MCR² (eq. 1): $k+1$ log-dets of $d\\times d$ matrices" in found
    assert "V-MCR² (eq. 7): one $d\\times d$ log-det left" in found
    assert "$R^c(Z_\\theta,\\Pi)$" in found and "$R^v_c(A)$" in found and "$R^v(\\Gamma,A)$" in found
    Gamma, A = (torch.as_tensor(im.get_array().data) for im in fig.axes[0].images)
    assert Gamma.shape == (7, 6) and A.shape == (6, 3)
    torch.testing.assert_close(Gamma.norm(dim=0), torch.ones(6, dtype=Gamma.dtype))   # unit atoms
    assert (A >= 0).all() and ((A > 0).sum(0) == 2).all()                             # each class: its own 2 atoms


@pytest.mark.parametrize("k, atoms_per_class", [(3, 2), (1, 1), (6, 4)])
def test_vmcr2_structure_is_legible(k, atoms_per_class):
    assert layout_problems(draw_vmcr2_structure(k, atoms_per_class)) == []


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, exc, says", [
    (lambda: draw_redunet_layer(0), ValueError, "k must be >= 1"),
    (lambda: draw_redunet_layer("3"), TypeError, "k must be an int"),
    (lambda: draw_redunet_layer(3.0), TypeError, "k must be an int"),
    (lambda: draw_redunet_layer(3, analogies="yes"), TypeError, "analogies"),
    (lambda: draw_spectral_pipeline(channels=0), ValueError, "channels"),
    (lambda: draw_spectral_pipeline(channels=5), ValueError, "channels must be <= 4"),
    (lambda: draw_spectral_pipeline(length=2), ValueError, "length must be >= 3"),
    (lambda: draw_spectral_pipeline(length=13), ValueError, "length must be <= 12"),
    (lambda: draw_spectral_pipeline(length=8, shift=8), ValueError, "shift must be < length"),
    (lambda: draw_spectral_pipeline(shift=0), ValueError, "shift must be >= 1"),
    (lambda: draw_spectral_pipeline(shift=1.5), TypeError, "shift must be an int"),
    (lambda: draw_vmcr2_structure(k=0), ValueError, "k must be >= 1"),
    (lambda: draw_vmcr2_structure(k=7), ValueError, "k must be <= 6"),
    (lambda: draw_vmcr2_structure(k="3"), TypeError, "k must be an int"),
    (lambda: draw_vmcr2_structure(atoms_per_class=5), ValueError, "atoms_per_class must be <= 4"),
    (lambda: draw_vmcr2_structure(atoms_per_class=True), TypeError, "atoms_per_class must be an int"),
])
def test_bad_input(call, exc, says):
    with pytest.raises(exc, match=says):
        call()
