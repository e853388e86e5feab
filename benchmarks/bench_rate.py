"""Benchmark ΔR (forward, forward+backward) against the `mcr2` package (PyPI 1.0.2) and a Gram-matrix yardstick, same process.

Usage:  python benchmarks/bench_rate.py [--reps 30] [--threads 2] [--out results/bench_rate.json]

All sides see the same features (m=1000 unit vectors in n=128 dims, float32, CPU, 2 torch threads by
default) and labels (k balanced classes). Two races per pass (forward, forward+backward):

- against mcr2: ours (`redunet_book.rate.rate_reduction`) and the `mcr2` package's `DeltaR` (its `eps`
  is ε, ours `eps_sq` = ε²), alternating; *speed-up* = mcr2 / ours;
- against the yardstick: ours again and one dense Gram matrix ZᵀZ (n×n) of the same Z, alternating;
  *ours / gram* is ΔR's cost in Gram-matmul units, which depends less on the machine than milliseconds
  do. The Gram product is the same in both passes. It runs in a race of its own because mcr2 perturbs
  what runs after it (its many allocations and small ops: a Gram product right after mcr2 took twice as
  long as one right after ours, and ours was slower too).

Before timing, the script checks that ours and mcr2 give the same ΔR and the same gradient (autograd,
relative 1e-3). The table reports the median and the range (min–max) of each side's runs, and the
ratios of the medians; the record adds the range of the round-by-round ratios (`_bench.py`). The
targets of issue 14 for forward+backward, ours / gram ≤ 8 at k = 10 and ≤ 5 at k = 100, are reported
as met or not (nothing fails).
"""
from __future__ import annotations

import argparse
import sys

import torch
from _bench import (LoadWatch, common_arguments, format_spread, machine, problem, race, ratio_fields, spread_fields,
                    write_record)

from redunet_book.rate import rate_reduction

try:
    from mcr2.primitives.coding_rate import DeltaR as mcr2_delta_r
except ImportError:  # pragma: no cover - depends on the optional bench extra
    sys.exit("mcr2 is not installed: pip install -c constraints.txt 'redunet-book[bench]'")

# issue 14: ours / gram for forward+backward, measured in one process
TARGETS = {("forward+backward", 10): 8.0, ("forward+backward", 100): 5.0}


def forward_backward(f, Z):
    "Return a closure computing f(Z') and its gradient for a fresh leaf copy Z' of Z."
    def run():
        Zg = Z.detach().clone().requires_grad_()
        f(Zg).backward()
    return run


def gradient(f, Z):
    "∂f/∂Z by autograd, at a fresh leaf copy of Z."
    Zg = Z.detach().clone().requires_grad_()
    f(Zg).backward()
    return Zg.grad


def bench(m: int, n: int, k: int, eps_sq: float, reps: int, warmup: int) -> list[dict]:
    "Times of ours, mcr2 and the Gram yardstick for one (m, n, k), forward and forward+backward."
    Z, y = problem(m, n, k)
    Y = torch.nn.functional.one_hot(y, k).float()
    def ours(Z):
        return rate_reduction(Z, y, eps_sq, num_classes=k)

    def theirs(Z):
        return mcr2_delta_r(Z, Y, eps_sq ** 0.5)

    def gram():
        return Z.T @ Z
    v_ours, v_theirs = float(ours(Z)), float(theirs(Z))
    if abs(v_ours - v_theirs) > 1e-4 * max(1.0, abs(v_theirs)):
        raise AssertionError(f"k={k}: ΔR differs: redunet_book {v_ours} vs mcr2 {v_theirs}")
    g_ours, g_theirs = gradient(ours, Z), gradient(theirs, Z)
    err = float((g_ours - g_theirs).abs().max() / g_theirs.abs().max())
    if err > 1e-3:
        raise AssertionError(f"k={k}: ∂ΔR/∂Z differs from mcr2's by {err:.2e} (relative)")
    rows = []
    for name, make in [("forward", lambda f: (lambda: f(Z))), ("forward+backward", lambda f: forward_backward(f, Z))]:
        t = race({"ours": make(ours), "mcr2": make(theirs)}, reps, warmup)
        g = race({"ours": make(ours), "gram": gram}, reps, warmup)
        target = TARGETS.get((name, k))
        rows.append(dict(m=m, n=n, k=k, eps_sq=eps_sq, **{"pass": name}, **spread_fields("mcr2_ms", t["mcr2"]),
                         **spread_fields("ours_ms", t["ours"]), **ratio_fields("speedup", t["mcr2"], t["ours"]),
                         **spread_fields("yardstick_ours_ms", g["ours"]), **spread_fields("gram_ms", g["gram"]),
                         **ratio_fields("ours_over_gram", g["ours"], g["gram"]),
                         target_ours_over_gram=target,
                         target_met=None if target is None else g["ours"].median / g["gram"].median <= target,
                         delta_r=v_ours, delta_r_mcr2=v_theirs, max_rel_diff_gradient=err, _spreads={**t, "ours_y": g["ours"], "gram": g["gram"]}))
    return rows


def main(argv=None):
    "Run the benchmark, print the table and write the JSON record."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(p, out="results/bench_rate.json")
    p.set_defaults(threads=2)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load = LoadWatch()
    rows = [r for k in args.ks for r in bench(args.m, args.n, k, args.eps_sq, args.reps, args.warmup)]
    load.end()
    print(f"ΔR, m={args.m}, n={args.n}, float32, CPU: {machine()}; median (min–max) of {args.reps} alternating runs;"
          f" {load.summary()}")
    print(f"{'':24} {'— against mcr2 —':^51}  {'— against the yardstick —':^63}")
    print(f"{'k':>4}  {'pass':<17} {'mcr2 (ms)':>20} {'redunet_book (ms)':>20} {'speed-up':>9}"
          f"  {'redunet_book (ms)':>20} {'gram ZᵀZ (ms)':>20} {'ours/gram':>10} {'target':>11}")
    for r in rows:
        t = r.pop("_spreads")
        target = "" if r["target_ours_over_gram"] is None else \
            f"≤ {r['target_ours_over_gram']:g}: {'met' if r['target_met'] else 'NOT met'}"
        print(f"{r['k']:>4}  {r['pass']:<17} {format_spread(t['mcr2'], 1):>20} {format_spread(t['ours']):>20}"
              f" {r['speedup']:>8.1f}x  {format_spread(t['ours_y']):>20} {format_spread(t['gram'], 3):>20}"
              f" {r['ours_over_gram']:>10.1f} {target:>11}")
    if load.loaded:
        print(load.warning())
    write_record("bench_rate.py", args, argv, rows, load)


if __name__ == "__main__":
    main()
