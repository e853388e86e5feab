"""Tests of the scattering lifting (nbs/05b_scattering.ipynb, ReduNet Appendix E.5): kymatio's first-order scattering
features (sizes, the sphere, batching), the random-filter lifting of the same size against its literal definition, bad input."""
import pytest
import torch

from redunet_book.core import make_generator, normalize
from redunet_book.scattering import (random_filter_features, random_filter_lifting, scattering_dimension,
                                     scattering_features)

F64 = torch.float64


def literal_features(images, kernels, J):
    "|circular convolution| with each kernel, x[(i - s) mod H, (j - t) mod W], then block means over 2^J x 2^J."
    m, H, W = images.shape
    B = 2 ** J
    out = []
    for k in kernels:
        conv = sum(k[s, t] * torch.roll(images, (s, t), (1, 2)) for s in range(k.shape[0]) for t in range(k.shape[1]))
        out.append(torch.stack([conv[:, p * B:(p + 1) * B, q * B:(q + 1) * B].abs().mean((1, 2))
                                for p in range(H // B) for q in range(W // B)], 1))
    return torch.stack(out, 1).flatten(1)


@pytest.mark.parametrize("J,L,K,size", [(1, 2, 3, 8), (2, 2, 5, 12), (2, 3, 4, 10)])
def test_random_filter_features_match_the_literal_definition(J, L, K, size):
    imgs = torch.rand(4, size, size, dtype=F64, generator=make_generator(J + L + K))
    lift = random_filter_lifting(J, L, K, seed=3, dtype=F64)
    want = normalize(literal_features(imgs, lift.kernels[:, 0], J))
    torch.testing.assert_close(random_filter_features(imgs, J, L, kernel_size=K, seed=3), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("J,L,order", [(2, 4, 1), (3, 8, 1), (2, 4, 2), (1, 3, 2)])
def test_scattering_sizes_sphere_and_batching(J, L, order):
    imgs = torch.rand(5, 28, 28, generator=make_generator(1))
    F = scattering_features(imgs, J, L, max_order=order, batch_size=2)
    assert F.shape == (5, scattering_dimension(J, L, (28, 28), order))
    torch.testing.assert_close(F.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(F, scattering_features(imgs, J, L, max_order=order))                 # batching changes nothing
    assert random_filter_features(imgs, J, L).shape == (5, scattering_dimension(J, L, (28, 28), 1))   # the same size (first order)


def test_scattering_of_a_constant_image_has_no_wavelet_energy():
    "A constant image: the wavelets (zero mean) respond with 0, so only the low-pass channel survives."
    imgs = torch.full((1, 16, 16), 0.5)
    F = scattering_features(imgs, 2, 4)                                  # (1 + 8) channels x 4 x 4
    per_channel = F.reshape(9, 16).abs().sum(1)
    assert per_channel[0] > 0.99 * per_channel.sum()


def test_dtype_is_kept(dtype):
    imgs = torch.rand(2, 16, 16, generator=make_generator(2), dtype=dtype)
    assert scattering_features(imgs, 2, 2).dtype == dtype and random_filter_features(imgs, 2, 2).dtype == dtype


def test_bad_input_names_the_argument():
    imgs = torch.rand(2, 16, 16)
    with pytest.raises(ValueError, match="images"):
        scattering_features(imgs[0], 2, 4)
    with pytest.raises(ValueError, match="J"):
        scattering_features(imgs, 5, 4)
    with pytest.raises(ValueError, match="max_order"):
        scattering_features(imgs, 2, 4, max_order=3)
    with pytest.raises(TypeError, match="L"):
        random_filter_features(imgs, 2, 4.0)
    with pytest.raises(TypeError, match="images"):
        random_filter_features(imgs.numpy(), 2, 4)
