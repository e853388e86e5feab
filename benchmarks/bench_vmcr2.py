"""Benchmark V-MCR² (eq. 7, Algorithm 1) against MCR² (eq. 1): objective plus gradient, one iteration, same process.

Usage:  python benchmarks/bench_vmcr2.py [--reps 10] [--device cpu] [--out results/bench_vmcr2.json]

For each size (d, m, k) — by default (128, 1000, 10), (500, 2000, 100), (500, 2000, 200), the V-MCR²
paper's MNIST/CIFAR-10 and CIFAR-100/Tiny-ImageNet settings — all sides see the same unit features
Z (m, d) and balanced shuffled labels, float32:

- literal MCR²: ΔR with one d x d log-determinant per class in a Python loop (the cost model of the
  paper's §2.1), forward + autograd backward to Z;
- fast MCR²: `redunet_book.rate.rate_reduction` (one batched Cholesky on the smaller side of every
  class), forward + autograd backward to Z;
- V-MCR²: what one iteration of Algorithm 1 computes besides the network: the objective (7), the
  Lipschitz scales, the closed-form gradients in Γ and A (eqs. 10–11) and the proximal update
  (`_prox_step`), then the penalty with the new (Γ, A) (`_penalty_z`, on the support of A: the atoms
  each class uses) and its autograd backward to Z. Both take the package's support path, since A is
  zero outside each class's own atoms after latching (chapter 08, "The support path");
- V-MCR² dense: the same iteration with the support path switched off (`SPARSE_MAX_FRACTION = 0`). Γ and A come
  from latching, with q = 20k atoms for k = 10 and q = 10k otherwise (the paper's §4.1). Latching
  itself (every 50 epochs in the paper) is timed separately. The network step needs only the part of
  the penalty that depends on Z (the term AⱼᵀQAⱼ of eq. 9 is constant in Z).

The literal and fast MCR² must agree (value and gradient) before anything is timed, and so must the
support and dense V-MCR² paths (objective and gradient in Z). Runs alternate
between the sides; the table reports the median and the range (min–max) of each side's runs, and
the speed-ups as ratios of the medians (the record adds the range of the round-by-round ratios).
"""
from __future__ import annotations

import argparse

import torch
import redunet_book.vmcr2 as vmcr2_module
from _bench import LoadWatch, format_spread, machine, problem, race, ratio_fields, spread_fields, write_record

from redunet_book.core import membership_matrix
from redunet_book.rate import rate_reduction
from redunet_book.vmcr2 import _latch, _penalty_z, _prox_step, _support

SIZES = [(128, 1000, 10), (500, 2000, 100), (500, 2000, 200)]


def literal_mcr2(Z, y, k: int, eps_sq: float):
    "ΔR with one d x d log det for the whole and one per class, in a loop (eq. 1 as printed)."
    m, d = Z.shape
    eye = torch.eye(d, dtype=Z.dtype, device=Z.device)
    R = 0.5 * torch.logdet(eye + d / (m * eps_sq) * Z.T @ Z)
    Rc = 0
    for j in range(k):
        Zj = Z[y == j]
        mj = Zj.shape[0]
        Rc = Rc + mj / (2 * m) * torch.logdet(eye + d / (mj * eps_sq) * Zj.T @ Zj)
    return R - Rc


def with_grad(objective):
    "A callable returning (value, ∂value/∂Z) by autograd for features Z."
    def run(Z):
        Zg = Z.detach().clone().requires_grad_()
        value = objective(Zg)
        value.backward()
        return value.detach(), Zg.grad
    return run


def vmcr2_iteration(Z, Pi, params, eps_sq: float, mu: float = 1.0, nu: float = 5.0):
    "Algorithm 1 without the network: proximal step on (Γ, A), then the penalty and its gradient in Z."
    with torch.no_grad():
        new, terms, _ = _prox_step(Z, Pi, params, eps_sq, mu, nu, nu)
    Zg = Z.detach().clone().requires_grad_()
    loss = mu / (2 * Z.shape[0]) * _penalty_z(Zg, Pi, new.Gamma, new.A, _support(new.A))
    loss.backward()
    return terms.objective, Zg.grad


def dense_path(fn):
    "`fn` run with the V-MCR² support path switched off (every product over all q atoms)."
    def run():
        saved, vmcr2_module.SPARSE_MAX_FRACTION = vmcr2_module.SPARSE_MAX_FRACTION, 0.0
        try:
            return fn()
        finally:
            vmcr2_module.SPARSE_MAX_FRACTION = saved
    return run


def synced(fn, device):
    "`fn` followed by a CUDA synchronisation when timing on a GPU."
    if device.type != "cuda":
        return fn
    def run():
        out = fn()
        torch.cuda.synchronize(device)
        return out
    return run


def rel_diff(a, b) -> float:
    "Largest absolute difference relative to the largest entry of b."
    return float((a - b).abs().max() / b.abs().max())


def bench(d: int, m: int, k: int, eps_sq: float, reps: int, warmup: int, device) -> dict:
    "Times (ms, min/median/max) of the three sides and of latching for one (d, m, k)."
    Z, y = problem(m, d, k)
    Z, y = Z.to(device), y.to(device)
    Pi = membership_matrix(y, m, k, dtype=Z.dtype, device=device)
    per = 20 if k <= 10 else 10
    params = _latch(Z, Pi, per)
    lit, fast = with_grad(lambda X: literal_mcr2(X, y, k, eps_sq)), with_grad(lambda X: rate_reduction(X, y, eps_sq, k))
    (v_lit, g_lit), (v_fast, g_fast) = lit(Z), fast(Z)
    err = max(abs(float(v_lit - v_fast)) / abs(float(v_lit)), rel_diff(g_fast, g_lit))
    if err > 1e-3:
        raise AssertionError(f"(d, m, k) = {(d, m, k)}: fast and literal MCR² differ by {err:.2e} (relative)")
    (o_sup, g_sup) = vmcr2_iteration(Z, Pi, params, eps_sq)
    (o_dense, g_dense) = dense_path(lambda: vmcr2_iteration(Z, Pi, params, eps_sq))()
    err_paths = max(abs(float(o_sup - o_dense)) / abs(float(o_dense)), rel_diff(g_sup, g_dense))
    if err_paths > 1e-3:
        raise AssertionError(f"(d, m, k) = {(d, m, k)}: V-MCR² support and dense paths differ by {err_paths:.2e} (relative)")
    runs = {"literal": synced(lambda: lit(Z), device), "fast": synced(lambda: fast(Z), device),
            "vmcr2": synced(lambda: vmcr2_iteration(Z, Pi, params, eps_sq), device),
            "vmcr2_dense": synced(dense_path(lambda: vmcr2_iteration(Z, Pi, params, eps_sq)), device),
            "latch": synced(lambda: _latch(Z, Pi, per), device)}
    t = race(runs, reps, warmup)
    return dict(d=d, m=m, k=k, q=per * k, eps_sq=eps_sq, dtype="float32", device=device.type,
                **spread_fields("literal_ms", t["literal"]), **spread_fields("fast_ms", t["fast"]),
                **spread_fields("vmcr2_ms", t["vmcr2"]), **spread_fields("vmcr2_dense_ms", t["vmcr2_dense"]),
                **spread_fields("latch_ms", t["latch"]),
                **ratio_fields("speedup_vs_literal", t["literal"], t["vmcr2"]),
                **ratio_fields("speedup_vs_fast", t["fast"], t["vmcr2"]),
                **ratio_fields("dense_vs_literal", t["literal"], t["vmcr2_dense"]),
                mcr2_delta_r=float(v_fast), max_rel_diff_literal_fast=err, max_rel_diff_support_dense=err_paths,
                _spreads=t)

def main(argv=None):
    "Run the benchmark, print the table and write the JSON record."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=10, help="timed runs per side (min/median/max reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--eps-sq", type=float, default=0.5)
    p.add_argument("--sizes", default=",".join(f"{d}x{m}x{k}" for d, m, k in SIZES), help="d x m x k, comma separated")
    p.add_argument("--device", default="cpu", help="cpu, cuda, or 'all' (cpu, then cuda when available)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", default="results/bench_vmcr2.json", help="JSON record path ('' to skip)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [torch.device(dev) for dev in devices if dev != "cuda" or torch.cuda.is_available()]
    load = LoadWatch()
    rows = [bench(d, m, k, args.eps_sq, args.reps, args.warmup, dev) for dev in devices for d, m, k in sizes]
    load.end()
    print(f"Objective + gradient per iteration, float32: {machine()}; median (min–max) of {args.reps} alternating runs;"
          f" {load.summary()}")
    print(f"{'device':>6} {'d':>4} {'m':>5} {'k':>4} {'q':>5} {'literal MCR² (ms)':>20} {'fast MCR² (ms)':>20}"
          f" {'V-MCR² (ms)':>20} {'vs literal':>10} {'vs fast':>8} {'dense (ms)':>20} {'dense vs literal':>16}"
          f" {'latch (ms)':>20}")
    for r in rows:
        t = r.pop("_spreads")
        print(f"{r['device']:>6} {r['d']:>4} {r['m']:>5} {r['k']:>4} {r['q']:>5} {format_spread(t['literal'], 1):>20}"
              f" {format_spread(t['fast'], 1):>20} {format_spread(t['vmcr2'], 1):>20} {r['speedup_vs_literal']:>9.1f}x"
              f" {r['speedup_vs_fast']:>7.2f}x {format_spread(t['vmcr2_dense'], 1):>20} {r['dense_vs_literal']:>15.1f}x"
              f" {format_spread(t['latch'], 1):>20}")
    if load.loaded:
        print(load.warning())
    if torch.cuda.is_available():
        args_gpu = torch.cuda.get_device_name(0)
        for r in rows:
            if r["device"] == "cuda":
                r["gpu"] = args_gpu
    write_record("bench_vmcr2.py", args, argv, rows, load)


if __name__ == "__main__":
    main()
