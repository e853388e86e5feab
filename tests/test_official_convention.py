"""The official code's convention in full: an orthonormal FFT with α = C/(mε²) is this book's spectral ReduNet at (ε²T, ηT, λT).

The official 1D and 2D layers are written here from the equations ([ReduNet eqs. 47, 52], Algorithm 3 with a unitary DFT),
with no code of the package or of the official repository, and compared with `SpectralReduNet` to round-off.
"""

import pytest
import torch

from redunet_book.spectral import SpectralReduNet

ETA, EPS_SQ, LAM = 0.5, 0.1, 500.0


def unit(X):
    "Every sample (m, ...) onto the unit sphere (Frobenius norm)."
    return X / X.flatten(1).norm(dim=1).reshape(-1, *[1] * (X.ndim - 1))


def ortho(X, dims, inverse=False):
    "The unitary DFT over the spatial axes `dims` (norm='ortho'), or its inverse (real part)."
    return torch.fft.ifftn(X, dim=dims, norm="ortho").real if inverse else torch.fft.fftn(X, dim=dims, norm="ortho")


def per_frequency(V):
    "(m, C, *shape) spectra → (F, C, m): one column per sample at each frequency."
    return V.flatten(2).permute(2, 1, 0)


def official_operators(Z, y, k, eps_sq, dims):
    "Ē(p) = α(I + αV(p)V(p)ᴴ)⁻¹ and C̄ʲ(p) with αⱼ = C/(mⱼε²), from unitary spectra; γⱼ = mⱼ/m."
    m, C = Z.shape[:2]
    Vp = per_frequency(ortho(Z, dims))                                  # (F, C, m)
    eye = torch.eye(C, dtype=Vp.dtype)
    def op(cols, alpha):
        return alpha * torch.linalg.inv(eye + alpha * cols @ cols.mH)
    E = op(Vp, C / (m * eps_sq))
    Cs = [op(Vp[:, :, y == j], C / (int((y == j).sum()) * eps_sq)) for j in range(k)]
    gammas = [int((y == j).sum()) / m for j in range(k)]
    return E, Cs, gammas


def official_step(Z, E, Cs, gammas, eta, lam, dims, y=None):
    "z ← P_S(z + η(Ēz − Σⱼ γⱼπʲC̄ʲz)) per frequency, with the true labels y or π̂ʲ = softmax(−λ‖C̄ʲz‖) (norm over all frequencies)."
    shape = Z.shape
    V = per_frequency(ortho(Z, dims))                                   # (F, C, m)
    resp = torch.stack([Cj @ V for Cj in Cs])                          # (k, F, C, m)
    if y is None:
        norms = resp.abs().pow(2).sum((1, 2)).sqrt()                    # (k, m): Parseval, ‖C̄ʲz‖ in the signal domain
        pi = torch.softmax(-lam * norms, dim=0)
    else:
        pi = torch.nn.functional.one_hot(y, len(Cs)).T.to(torch.float64)
    g = torch.tensor(gammas, dtype=torch.float64)[:, None] * pi         # (k, m)
    U = V + eta * (E @ V - (g[:, None, None, :] * resp).sum(0))
    X = ortho(U.permute(2, 1, 0).reshape(shape[0], shape[1], *shape[2:]).to(torch.complex128), dims, inverse=True)
    return unit(X)


def official_network(Z, y, Q, k, layers, dims):
    "The official construction (training features moved with the true labels) and the evaluation of Q with π̂."
    Z, Q = unit(Z), unit(Q)
    for _ in range(layers):
        E, Cs, gammas = official_operators(Z, y, k, EPS_SQ, dims)
        Z, Q = official_step(Z, E, Cs, gammas, ETA, LAM, dims, y), official_step(Q, E, Cs, gammas, ETA, LAM, dims)
    return Z, Q


@pytest.mark.parametrize("shape", [(12,), (6, 5)], ids=["1D, T = Γ", "2D, T = HW"])
def test_official_layer_is_the_book_layer_at_eps_eta_lam_times_T(shape):
    "(ε²T, ηT, λT) in the book's convention reproduce the official orthonormal-FFT network to round-off; ε²T alone does not."
    g = torch.Generator().manual_seed(0)
    m, C, k, layers = 14, 3, 2, 3
    Z = torch.rand(m, C, *shape, dtype=torch.float64, generator=g)
    y = torch.arange(m) % k
    Q = torch.rand(6, C, *shape, dtype=torch.float64, generator=g)
    dims = tuple(range(2, 2 + len(shape)))
    T = int(torch.tensor(shape).prod())
    Z_off, Q_off = official_network(Z, y, Q, k, layers, dims)
    net = SpectralReduNet(layers, ETA * T, EPS_SQ * T, LAM * T).fit(Z, y, num_classes=k)
    torch.testing.assert_close(net.train_features_, Z_off, rtol=0, atol=1e-12)
    torch.testing.assert_close(net(Q), Q_off, rtol=0, atol=1e-12)
    partial = SpectralReduNet(layers, ETA, EPS_SQ * T, LAM).fit(Z, y, num_classes=k)   # ε² converted, η and λ not
    assert float((partial(Q) - Q_off).abs().max()) > 1e-3
    assert float((partial.train_features_ - Z_off).abs().max()) > 1e-3
