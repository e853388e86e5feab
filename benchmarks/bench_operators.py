"""Benchmark the gradient operators E, Cʲ (eqs. 14–15) and the closed-form gradient (16), same process.

Usage:  python benchmarks/bench_operators.py [--reps 30] [--out results/bench_operators.json]

Both sides see the same features (m=1000 unit vectors in n=128 dims, float32, CPU) and labels
(k balanced classes, shuffled):

- operators: `gradient_operators` (E and every Cʲ, one padded class batch, one batched Cholesky on
  the smaller side) against a Python loop over the classes with a dense `torch.linalg.inv` per
  class, on that class's rows only (the literal way, as eqs. 14–15 read);
- gradient: `rate_reduction_gradient` (closed form, eq. 16) against autograd through
  `rate_reduction` (forward + backward).

Before timing, the script checks that both sides agree (float32 tolerance). Runs alternate between
the two sides; the table reports the median and the range (min–max) of each side's runs, and the
speed-up as the ratio of the medians (the record adds the range of the round-by-round ratios).
"""
from __future__ import annotations

import argparse

import torch
from _bench import (LoadWatch, common_arguments, format_spread, machine, problem, race, ratio_fields, spread_fields,
                    write_record)

from redunet_book.operators import gradient_operators, rate_reduction_gradient
from redunet_book.rate import rate_reduction


def loop_operators(Z, y, k: int, eps_sq: float):
    "E and Cʲ the literal way: dense `inv` for E, then one dense `inv` per class in a Python loop."
    m, n = Z.shape
    eye = torch.eye(n, dtype=Z.dtype)
    alpha = n / (m * eps_sq)
    E = alpha * torch.linalg.inv(eye + alpha * Z.T @ Z)
    C = []
    for j in range(k):
        Zj = Z[y == j]
        alpha_j = n / (Zj.shape[0] * eps_sq)
        C.append(alpha_j * torch.linalg.inv(eye + alpha_j * Zj.T @ Zj))
    return E, torch.stack(C)


def autograd_gradient(Z, y, k: int, eps_sq: float):
    "∂ΔR/∂Z by autograd through rate_reduction (forward + backward)."
    Zg = Z.detach().clone().requires_grad_()
    rate_reduction(Zg, y, eps_sq, num_classes=k).backward()
    return Zg.grad


def rel_diff(a, b) -> float:
    "Largest absolute difference relative to the largest entry of b."
    return float((a - b).abs().max() / b.abs().max())


def bench(m: int, n: int, k: int, eps_sq: float, reps: int, warmup: int) -> list[dict]:
    "Times of both sides for one (m, n, k): operators, then gradient."
    Z, y = problem(m, n, k)
    ours_ops = gradient_operators(Z, y, eps_sq, num_classes=k)
    E, C = loop_operators(Z, y, k, eps_sq)
    err_ops = max(rel_diff(ours_ops.E, E), rel_diff(ours_ops.C, C))
    err_grad = rel_diff(rate_reduction_gradient(Z, y, eps_sq, num_classes=k), autograd_gradient(Z, y, k, eps_sq))
    for name, err in [("operators", err_ops), ("gradient", err_grad)]:
        if err > 1e-4:
            raise AssertionError(f"k={k}: {name} differ from the baseline by {err:.2e} (relative)")
    tasks = [
        ("operators (14–15)", "per-class loop, dense inv", err_ops,
         {"baseline": lambda: loop_operators(Z, y, k, eps_sq), "ours": lambda: gradient_operators(Z, y, eps_sq, k)}),
        ("gradient (16)", "autograd of rate_reduction", err_grad,
         {"baseline": lambda: autograd_gradient(Z, y, k, eps_sq), "ours": lambda: rate_reduction_gradient(Z, y, eps_sq, k)}),
    ]
    rows = []
    for task, baseline, err, runs in tasks:
        t = race(runs, reps, warmup)
        rows.append(dict(m=m, n=n, k=k, eps_sq=eps_sq, dtype=str(Z.dtype).replace("torch.", ""), device="cpu",
                         task=task, baseline=baseline, **spread_fields("baseline_ms", t["baseline"]),
                         **spread_fields("ours_ms", t["ours"]), **ratio_fields("speedup", t["baseline"], t["ours"]),
                         max_rel_diff=err, _spreads=t))
    return rows


def main(argv=None):
    "Run the benchmark, print the table and write the JSON record."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(p, out="results/bench_operators.json")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load = LoadWatch()
    rows = [r for k in args.ks for r in bench(args.m, args.n, k, args.eps_sq, args.reps, args.warmup)]
    load.end()
    print(f"Gradient operators, m={args.m}, n={args.n}, float32, CPU: {machine()}; median (min–max) of {args.reps}"
          f" alternating runs; {load.summary()}")
    print(f"{'k':>4}  {'task':<25} {'baseline':<27} {'baseline (ms)':>22} {'redunet_book (ms)':>20} {'speed-up':>9}")
    for r in rows:
        t = r.pop("_spreads")
        print(f"{r['k']:>4}  {r['task']:<25} {r['baseline']:<27} {format_spread(t['baseline']):>22}"
              f" {format_spread(t['ours']):>20} {r['speedup']:>8.1f}x")
    if load.loaded:
        print(load.warning())
    write_record("bench_operators.py", args, argv, rows, load)


if __name__ == "__main__":
    main()
