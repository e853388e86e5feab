"""Tests for redunet_book.circulant: circ / doubly block circulant / multi-channel forms against their literal
definitions (eqs. 30, 37, 133, 135), FFT circular convolutions against circulant-matrix products, the circulant
family's order, the unitary DFT (Facts 4-9), Propositions 4-5 on circulant families, dtypes, devices, bad input."""
import math

import pytest
import torch

from redunet_book.circulant import (circ, circulant_family, circulant_spectrum, circular_conv, dft, dft_matrix,
                                    doubly_block_circulant, idft, multichannel_circ, multichannel_circular_conv)
from redunet_book.core import normalize, tolerance
from redunet_book.operators import compression_operators, expansion_operator, rate_reduction_gradient
from redunet_book.rate import rate_reduction

F64 = dict(dtype=torch.float64)


def literal_circ(z):
    "Eq. (30) entry by entry: circ(z)[t, s] = z((t - s) mod T)."
    T = z.shape[-1]
    return torch.stack([torch.stack([z[(t - s) % T] for s in range(T)]) for t in range(T)])


def literal_dbc(z):
    "Eq. (133) column by column: column p·W + q is vec(trans_{p,q}(z)), eq. (132) entry by entry."
    H, W = z.shape
    cols = []
    for p in range(H):
        for q in range(W):
            cols.append(torch.stack([z[(h - p) % H, (w - q) % W] for h in range(H) for w in range(W)]))
    return torch.stack(cols, 1)


def literal_mc_circ(z, dims):
    "Eqs. (37) / (135): the channels' circulant matrices stacked vertically."
    return torch.cat([literal_circ(c) if dims == 1 else literal_dbc(c) for c in z])


def test_circ_matches_eq30(gen, dtype):
    for T in (1, 2, 5, 8):
        z = torch.randn(T, generator=gen, **F64).to(dtype)
        assert torch.equal(circ(z), literal_circ(z))
        for s in range(T):
            assert torch.equal(circ(z)[:, s], torch.roll(z, s))
    Z = torch.randn(2, 3, 6, generator=gen, **F64)
    assert torch.equal(circ(Z)[1, 2], literal_circ(Z[1, 2]))


def test_circ_complex(gen):
    z = torch.randn(5, generator=gen, dtype=torch.complex128)
    assert torch.equal(circ(z), literal_circ(z))


def test_doubly_block_circulant_matches_eq133(gen):
    for H, W in [(1, 1), (2, 3), (3, 4), (4, 4)]:
        z = torch.randn(H, W, generator=gen, **F64)
        assert torch.equal(doubly_block_circulant(z), literal_dbc(z))
    Z = torch.randn(2, 3, 4, generator=gen, **F64)
    assert torch.equal(doubly_block_circulant(Z)[1], literal_dbc(Z[1]))


def test_multichannel_circ(gen):
    z = torch.randn(3, 5, generator=gen, **F64)
    assert torch.equal(multichannel_circ(z), literal_mc_circ(z, 1))
    z2 = torch.randn(2, 3, 4, generator=gen, **F64)
    assert torch.equal(multichannel_circ(z2, dims=2), literal_mc_circ(z2, 2))
    assert multichannel_circ(torch.randn(4, 2, 3, 5), dims=2).shape == (4, 30, 15)


@pytest.mark.parametrize("dims", [1, 2])
def test_circulant_family_order(gen, dims):
    shape = (3, 2, 5) if dims == 1 else (3, 2, 3, 4)
    Z = torch.randn(*shape, generator=gen, **F64)
    fam = circulant_family(Z)
    S = math.prod(shape[2:])
    assert fam.shape == (3 * S, 2 * S)
    for i in range(3):
        assert torch.equal(fam[i * S:(i + 1) * S], literal_mc_circ(Z[i], dims).T)    # circ(Z̄) transposed


def test_circular_conv_vs_circulant_matrix(gen, dtype):
    tol = tolerance(dtype)
    x, k = (torch.randn(4, 9, generator=gen, **F64).to(dtype) for _ in range(2))
    out = circular_conv(x, k)
    assert out.dtype == dtype
    want = torch.stack([circ(k[i]) @ x[i] for i in range(4)])
    torch.testing.assert_close(out, want, **tol)
    k3 = torch.randn(3, generator=gen, **F64).to(dtype)                               # short kernel, broadcast
    padded = torch.cat([k3, torch.zeros(6, dtype=dtype)])
    torch.testing.assert_close(circular_conv(x, k3), x @ circ(padded).T, **tol)


def test_circular_conv_2d_vs_doubly_block(gen, dtype):
    tol = tolerance(dtype)
    x = torch.randn(2, 4, 5, generator=gen, **F64).to(dtype)
    k = torch.randn(2, 3, generator=gen, **F64).to(dtype)
    kp = torch.zeros(4, 5, dtype=dtype)
    kp[:2, :3] = k
    want = x.flatten(1) @ doubly_block_circulant(kp).T
    torch.testing.assert_close(circular_conv(x, k, dims=2).flatten(1), want, **tol)


@pytest.mark.parametrize("dims", [1, 2])
def test_direct_short_kernels_and_batch_axes(gen, dims, dtype):
    "The direct (torch conv) path equals the FFT path for short kernels, extra batch axes, both dtypes."
    S, K = ((11,), (3,)) if dims == 1 else ((5, 6), (2, 3))
    x = torch.randn(2, 3, 4, *S, generator=gen, **F64).to(dtype)
    k = torch.randn(5, 4, *K, generator=gen, **F64).to(dtype)
    direct = multichannel_circular_conv(x, k, dims, "direct")
    assert direct.shape == (2, 3, 5, *S) and direct.dtype == dtype
    torch.testing.assert_close(direct, multichannel_circular_conv(x, k, dims, "fft"), **tolerance(dtype))


def test_circular_conv_complex(gen):
    x, k = (torch.randn(6, generator=gen, dtype=torch.complex128) for _ in range(2))
    torch.testing.assert_close(circular_conv(x, k), circ(k) @ x)


@pytest.mark.parametrize("method", ["fft", "direct", "auto"])
@pytest.mark.parametrize("dims", [1, 2])
def test_multichannel_conv_vs_block_matrix(gen, dims, method):
    S = (6,) if dims == 1 else (3, 4)
    x = torch.randn(5, 3, *S, generator=gen, **F64)
    e = torch.randn(2, 3, *S, generator=gen, **F64)
    circ_fn = circ if dims == 1 else doubly_block_circulant
    big = torch.cat([torch.cat([circ_fn(e[c, d]) for d in range(3)], 1) for c in range(2)])  # (2S, 3S) blocks
    out = multichannel_circular_conv(x, e, dims, method)
    assert out.shape == (5, 2, *S)
    torch.testing.assert_close(out.flatten(1), x.flatten(1) @ big.T)
    loop = torch.stack([sum(circular_conv(x[:, d], e[c, d], dims) for d in range(3)) for c in range(2)], 1)
    torch.testing.assert_close(out, loop)                                                 # eq. (96)


def test_dft_facts(gen):
    T = 7
    F = dft_matrix(T)
    torch.testing.assert_close(F @ F.conj().T, torch.eye(T, dtype=F.dtype))
    z = torch.randn(T, generator=gen, **F64)
    torch.testing.assert_close(dft(z), F @ z.to(F.dtype))                                 # Fact 4
    torch.testing.assert_close(idft(dft(z)).real, z)
    torch.testing.assert_close(dft(z).abs().square().sum(), z.square().sum().to(F.dtype).real)  # Fact 7
    D = F @ circ(z).to(F.dtype) @ F.conj().T                                               # Facts 5-6, corrected
    torch.testing.assert_close(D, torch.diag(circulant_spectrum(z)))
    torch.testing.assert_close(circulant_spectrum(z), math.sqrt(T) * dft(z))
    H, W = 3, 5
    F2 = dft_matrix(H, W)
    torch.testing.assert_close(F2, torch.kron(dft_matrix(H), dft_matrix(W)))
    img = torch.randn(H, W, generator=gen, **F64)
    torch.testing.assert_close(dft(img, 2).flatten(), F2 @ img.flatten().to(F2.dtype))   # Fact 8
    torch.testing.assert_close(F2 @ doubly_block_circulant(img).to(F2.dtype) @ F2.conj().T,
                               torch.diag(circulant_spectrum(img, 2).flatten()))          # Fact 9, corrected
    assert dft_matrix(4, dtype=torch.float32).dtype == torch.complex64


def _block_circulant_kernel(M, C, S, dims):
    "The kernel ē[c, c'] (first columns of the blocks) of a (C·S, C·S) matrix, reshaped to the spatial shape."
    blocks = M.reshape(C, M.shape[0] // C, C, M.shape[1] // C).permute(0, 2, 1, 3)     # (C, C, S, S)
    return blocks[..., 0].reshape(C, C, *S), blocks


@pytest.mark.parametrize("dims", [1, 2])
def test_propositions_4_5(gen, dims):
    S = (6,) if dims == 1 else (3, 4)
    C, m = 3, 5
    Z = normalize(torch.randn(m, C, *S, generator=gen, **F64))
    y = torch.tensor([0, 1, 0, 1, 1])
    fam = circulant_family(Z)
    circ_fn = circ if dims == 1 else doubly_block_circulant
    ops = [expansion_operator(fam, 0.5), *compression_operators(fam, y.repeat_interleave(math.prod(S)), 0.5)]
    zt = torch.randn(4, C, *S, generator=gen, **F64)
    for M in ops:
        e, blocks = _block_circulant_kernel(M, C, S, dims)
        for c in range(C):
            for d in range(C):
                torch.testing.assert_close(blocks[c, d], circ_fn(e[c, d]))                # every block circulant
        torch.testing.assert_close(zt.flatten(1) @ M.T, multichannel_circular_conv(zt, e, dims).flatten(1))
        assert blocks[0, 1].abs().max() > 1e-3                                             # channels mix


def test_gradient_step_keeps_families_circulant(gen):
    "Eq. (34): the layer's update of the family is the family of the updated samples (shift equivariance)."
    m, C, T = 6, 2, 5
    Z = normalize(torch.randn(m, C, T, generator=gen, **F64))
    y = torch.arange(m) % 2
    fam = circulant_family(Z)
    G = rate_reduction_gradient(fam, y.repeat_interleave(T), 0.5)
    new = fam + 0.5 * G
    torch.testing.assert_close(new, circulant_family(new[::T].reshape(m, C, T)))


def test_circulant_family_rate_is_shift_invariant(gen):
    Z = normalize(torch.randn(6, 2, 5, generator=gen, **F64))
    y = torch.arange(6) % 3
    shifted = torch.stack([torch.roll(z, s, -1) for z, s in zip(Z, [0, 1, 4, 2, 3, 1])])
    a = rate_reduction(circulant_family(Z), y.repeat_interleave(5), 0.5)
    b = rate_reduction(circulant_family(shifted), y.repeat_interleave(5), 0.5)
    torch.testing.assert_close(a, b)


def test_device(device, gen):
    Z = torch.randn(2, 3, 4, generator=gen, **F64).to(device)
    assert circulant_family(Z).device.type == device.type
    k = torch.randn(2, 3, 2, generator=gen, **F64).to(device)
    assert multichannel_circular_conv(Z, k).device.type == device.type
    assert dft_matrix(4, device=device).device.type == device.type


def test_bad_input():
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        circ([1.0, 2.0])
    with pytest.raises(TypeError, match="dtype"):
        circ(torch.arange(4))
    with pytest.raises(ValueError, match="NaN or Inf"):
        circ(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="at least 2 dimension"):
        doubly_block_circulant(torch.randn(4))
    with pytest.raises(ValueError, match="dims must be 1"):
        circular_conv(torch.randn(4), torch.randn(4), dims=3)
    with pytest.raises(TypeError, match="dims must be an int"):
        dft(torch.randn(4), dims=1.0)
    with pytest.raises(ValueError, match="exceeds"):
        circular_conv(torch.randn(4), torch.randn(5))
    with pytest.raises(TypeError, match="matching dtypes"):
        circular_conv(torch.randn(4), torch.randn(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="channels"):
        multichannel_circular_conv(torch.randn(2, 3, 5), torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="k must have"):
        multichannel_circular_conv(torch.randn(2, 3, 5), torch.randn(4, 5))
    with pytest.raises(ValueError, match="method must be"):
        multichannel_circular_conv(torch.randn(2, 3, 5), torch.randn(2, 3, 5), method="fast")
    with pytest.raises(TypeError, match="direct"):
        multichannel_circular_conv(torch.randn(2, 3, 5, dtype=torch.complex64), torch.randn(2, 3, 5, dtype=torch.complex64),
                                   method="direct")
    with pytest.raises(ValueError, match="Z must have 3 or 4"):
        circulant_family(torch.randn(3, 5))
    with pytest.raises(ValueError, match="one size"):
        dft_matrix(2, 3, 4)
    with pytest.raises(ValueError, match="size must be >= 1"):
        dft_matrix(0)
