"""The oracle harness: every fast path of the numerical core against the literal dense definition of its paper.

One table, `ORACLES`: each row names a fast function, the literal formula it must equal and the inputs it takes.
Every row runs over dtype (float32, float64) × device (CPU, CUDA where there is one) × shapes × memberships
(hard labels, labels with an empty class, soft rows, soft rows with exact zeros), real or complex as the row says.
The literal side is always evaluated in float64 on the CPU, from the same numbers.
"""
from __future__ import annotations

import math
import zlib
from typing import Callable, NamedTuple

import pytest
import torch

from redunet_book.circulant import circulant_family
from redunet_book.core import membership_matrix, normalize
from redunet_book.gram import apply_rows, factor, literal_logdet, literal_operator, logdet, operator
from redunet_book.operators import (compression_operators, expansion_operator, literal_compression_operators,
                                    literal_expansion_operator, literal_rate_reduction_gradient, rate_reduction_gradient)
from redunet_book.rate import class_coding_rate, coding_rate, literal_class_coding_rate, literal_coding_rate, rate_reduction
from redunet_book.spectral import rate_reduction_circ, scaled_inverse, woodbury_dense
from redunet_book.vmcr2 import latch, literal_vmcr2_terms, vmcr2_terms

EPS_SQS = [0.05, 0.5, 3.0]                                      # ε²: small (large scales α), the papers' usual, large
SHAPES = [(40, 6, 3), (12, 30, 4), (7, 3, 7)]                    # m > n, m < n, k = m
SIGNAL_SHAPES = [(6, 3, (5,)), (5, 2, (3, 4))]                   # (m, C, spatial shape)
EPS_SQ = 0.5                                                     # set by the test from EPS_SQS
MEMBERSHIPS = ["labels", "empty-class", "soft", "soft-zeros"]


def make_membership(kind: str, m: int, k: int, gen: torch.Generator) -> torch.Tensor:
    "Labels `(m,)` or soft rows `(m, k)` of the given kind, in float64 for soft rows."
    if kind == "labels":
        return (torch.arange(m) % k)[torch.randperm(m, generator=gen)]
    if kind == "empty-class":                                    # class k - 2 has no sample (needs num_classes)
        y = (torch.arange(m) % (k - 1))[torch.randperm(m, generator=gen)]
        return torch.where(y == k - 2, k - 1, y)
    P = torch.softmax(2 * torch.randn(m, k, generator=gen, dtype=torch.float64), 1)
    if kind == "soft-zeros":                                     # exact zeros, as from an underflowing softmax
        P[torch.arange(0, m, 2), torch.arange(0, m, 2) % k] = 0.0
        P = P / P.sum(1, keepdim=True)
    return P


class Case(NamedTuple):
    "The inputs of one oracle row, in float64 on the CPU."
    args: tuple
    k: int


def vector_case(shape, kind, gen) -> Case:
    "Unit features `(m, n)` and a membership, for shape (m, n, k)."
    m, n, k = shape
    Z = normalize(torch.randn(m, n, generator=gen, dtype=torch.float64))
    return Case((Z, make_membership(kind, m, k, gen)), k)


def signal_case(shape, kind, gen, k=3) -> Case:
    "Unit signals `(m, C, *spatial)` and a membership, for shape (m, C, spatial)."
    m, C, spatial = shape
    Z = normalize(torch.randn(m, C, *spatial, generator=gen, dtype=torch.float64))
    return Case((Z, make_membership(kind, m, k, gen)), k)


def dense(membership, m, k):
    "The `(m, k)` float64 membership matrix the literal formulas take."
    return membership_matrix(membership, m, k, dtype=torch.float64)


def circ_literal(Z, membership, k):
    "ΔR of the shift families by the literal eqs. (7)–(8), divided by T (ReduNet eq. 46)."
    T = math.prod(Z.shape[2:])
    fam = circulant_family(Z).flatten(1)                         # (m·T, C·T) all shifts of every sample
    Pi = dense(membership, Z.shape[0], k).repeat_interleave(T, 0)
    return (literal_coding_rate(fam, EPS_SQ) - literal_class_coding_rate(fam, Pi, EPS_SQ)) / T


def vmcr2_case(shape, kind, gen) -> Case:
    "Features, a membership and latched parameters (Γ, A) at which to evaluate the V-MCR² objective."
    m, n, k = shape
    Z, memb = vector_case(shape, kind, gen).args
    per = max(1, min(n // k, 2))
    Gamma, A = latch(Z, memb, per, num_classes=k)
    return Case((Z, memb, Gamma, A + 0.1 * torch.rand(A.shape, generator=gen, dtype=torch.float64)), k)


def grad_z(f):
    "∂f/∂Z by autograd, for a scalar function f(Z)."
    def run(Z, *rest):
        Zg = Z.detach().clone().requires_grad_()
        return torch.autograd.grad(f(Zg, *rest), Zg)[0]
    return run


def grad_pi(f):
    "∂f/∂Π by autograd, for a scalar function f(Z, Π) of a soft membership Π."
    def run(Z, P, *rest):
        Pg = P.detach().clone().requires_grad_()
        return torch.autograd.grad(f(Z, Pg, *rest), Pg)[0]
    return run


class Oracle(NamedTuple):
    "One row of the harness: the fast path, its literal definition, the input maker and what it runs over."
    name: str
    fast: Callable  # (*args, k) -> tensor or tuple of tensors
    literal: Callable  # (*args in float64, k) -> the same
    make: Callable  # (shape, membership kind, generator) -> Case
    shapes: list
    memberships: list


ORACLES = [
    Oracle("coding_rate [ReduNet eq. 7]", lambda Z, y, k: coding_rate(Z, EPS_SQ),
           lambda Z, y, k: literal_coding_rate(Z, EPS_SQ), vector_case, SHAPES, ["labels"]),
    Oracle("class_coding_rate [ReduNet eq. 8]", lambda Z, y, k: class_coding_rate(Z, y, EPS_SQ, num_classes=k if y.ndim == 1 else None),
           lambda Z, y, k: literal_class_coding_rate(Z, dense(y, len(Z), k), EPS_SQ), vector_case, SHAPES, MEMBERSHIPS),
    Oracle("rate_reduction [ReduNet eq. 9]", lambda Z, y, k: rate_reduction(Z, y, EPS_SQ, num_classes=k if y.ndim == 1 else None),
           lambda Z, y, k: literal_coding_rate(Z, EPS_SQ) - literal_class_coding_rate(Z, dense(y, len(Z), k), EPS_SQ),
           vector_case, SHAPES, MEMBERSHIPS),
    Oracle("expansion_operator [ReduNet eq. 14]", lambda Z, y, k: expansion_operator(Z, EPS_SQ),
           lambda Z, y, k: literal_expansion_operator(Z, EPS_SQ), vector_case, SHAPES, ["labels"]),
    Oracle("compression_operators [ReduNet eq. 15]",
           lambda Z, y, k: compression_operators(Z, y, EPS_SQ, num_classes=k if y.ndim == 1 else None),
           lambda Z, y, k: literal_compression_operators(Z, dense(y, len(Z), k), EPS_SQ), vector_case, SHAPES, MEMBERSHIPS),
    Oracle("rate_reduction_gradient [ReduNet eq. 16]",
           lambda Z, y, k: rate_reduction_gradient(Z, y, EPS_SQ, num_classes=k if y.ndim == 1 else None),
           lambda Z, y, k: literal_rate_reduction_gradient(Z, dense(y, len(Z), k), EPS_SQ), vector_case, SHAPES, MEMBERSHIPS),
    Oracle("autograd of rate_reduction in Z [ReduNet eq. 16]",
           grad_z(lambda Z, y, k: rate_reduction(Z, y, EPS_SQ, num_classes=k if y.ndim == 1 else None)),
           lambda Z, y, k: literal_rate_reduction_gradient(Z, dense(y, len(Z), k), EPS_SQ), vector_case, SHAPES, MEMBERSHIPS),
    Oracle("autograd of class_coding_rate in Π [ReduNet eq. 8]",
           grad_pi(lambda Z, P, k: class_coding_rate(Z, P, EPS_SQ)),
           grad_pi(lambda Z, P, k: literal_class_coding_rate(Z, P, EPS_SQ)), vector_case, SHAPES, ["soft", "soft-zeros"]),
    Oracle("rate_reduction_circ [ReduNet eq. 46]",
           lambda Z, y, k: rate_reduction_circ(Z, y, EPS_SQ, num_classes=k if y.ndim == 1 else None),
           circ_literal, signal_case, SIGNAL_SHAPES, MEMBERSHIPS),
    Oracle("vmcr2_terms [V-MCR² eq. 7]",
           lambda Z, y, G, A, k: tuple(vmcr2_terms(Z, y, G, A, EPS_SQ, num_classes=k if y.ndim == 1 else None)),
           lambda Z, y, G, A, k: tuple(literal_vmcr2_terms(Z, dense(y, len(Z), k), G, A, EPS_SQ, 1.0)),
           vmcr2_case, SHAPES[:2], MEMBERSHIPS),
]


def rows_case(s, n, kind, gen, complex_rows=False) -> Case:
    "A batch of 2 row blocks `(2, s, n)` (real or complex) and scales α `(2,)`."
    X = torch.randn(2, s, n, generator=gen, dtype=torch.complex128 if complex_rows else torch.float64)
    return Case((X, torch.tensor([0.6, 2.5], dtype=torch.float64)), 0)


KERNEL_SHAPES = [(3, 7), (9, 4), (5, 5)]
for complex_rows in (False, True):
    tag = "complex" if complex_rows else "real"
    ORACLES += [
        Oracle(f"gram.logdet ({tag})", lambda X, a, k: logdet(factor(X, a)), lambda X, a, k: literal_logdet(X, a),
               lambda sh, kind, gen, c=complex_rows: rows_case(*sh, kind, gen, c), KERNEL_SHAPES, ["none"]),
        Oracle(f"gram.operator ({tag})", lambda X, a, k: operator(factor(X, a)), lambda X, a, k: literal_operator(X, a),
               lambda sh, kind, gen, c=complex_rows: rows_case(*sh, kind, gen, c), KERNEL_SHAPES, ["none"]),
        Oracle(f"gram.apply_rows ({tag})", lambda X, a, k: apply_rows(factor(X, a)), lambda X, a, k: X @ literal_operator(X, a),
               lambda sh, kind, gen, c=complex_rows: rows_case(*sh, kind, gen, c), KERNEL_SHAPES, ["none"]),
    ]
ORACLES.append(Oracle(
    "spectral.scaled_inverse [ReduNet eq. 47]",
    lambda X, a, k: tuple(woodbury_dense(op, a) if op.shape[-2] < op.shape[-1] else op for op in [scaled_inverse(X, a)[0]])
    + (scaled_inverse(X, a, operator=False)[1],),
    lambda X, a, k: (literal_operator(X, a), literal_logdet(X, a)),
    lambda sh, kind, gen: rows_case(*sh, kind, gen, True), KERNEL_SHAPES, ["none"]))


def cast(t, dtype, device):
    "Floating tensors to `dtype` (complex ones to its complex twin) on `device`; integer labels only moved."
    if not isinstance(t, torch.Tensor):
        return t
    if t.is_complex():
        return t.to(dtype=torch.complex64 if dtype == torch.float32 else torch.complex128, device=device)
    return t.to(dtype=dtype, device=device) if t.is_floating_point() else t.to(device)


def tolerance_for(dtype):
    "Agreement required between the fast path in `dtype` and the float64 literal definition."
    return dict(rtol=1e-9, atol=1e-10) if dtype == torch.float64 else dict(rtol=2e-3, atol=2e-4)


PARAMS = [pytest.param(o, shape, kind, id=f"{o.name.split(' [')[0]}-{shape}-{kind}")
          for o in ORACLES for shape in o.shapes for kind in o.memberships]


@pytest.mark.parametrize("eps_sq", EPS_SQS)
@pytest.mark.parametrize("oracle, shape, kind", PARAMS)
def test_fast_path_equals_literal_definition(oracle, shape, kind, eps_sq, dtype, device, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "EPS_SQ", eps_sq)       # every row reads the module's EPS_SQ
    gen = torch.Generator().manual_seed(zlib.crc32(f"{oracle.name}{shape}{kind}".encode()))
    case = oracle.make(shape, kind, gen)
    expected = oracle.literal(*case.args, case.k)
    got = oracle.fast(*(cast(a, dtype, device) for a in case.args), case.k)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.device.type == torch.device(device).type
        assert torch.isfinite(g).all()
        g = g.detach().cpu().to(e.dtype)
        scale = e.abs().amax().clamp_min(1)                      # operators scale with α = n/(mε²): compare relative to it
        torch.testing.assert_close(g / scale, e / scale, **tolerance_for(dtype))


def test_every_literal_definition_has_a_row():
    "Every literal_* function of the numerical core is the oracle of some row."
    import inspect
    from redunet_book import gram, operators, rate, vmcr2
    literals = {name for mod in (gram, operators, rate, vmcr2) for name, _ in inspect.getmembers(mod, inspect.isfunction)
                if name.startswith("literal_") and _.__module__ == mod.__name__}
    source = inspect.getsource(__import__(__name__))
    missing = sorted(name for name in literals if name not in source.split("ORACLES = [", 1)[1])
    assert not missing, f"literal definitions without an oracle row: {missing}"
