"""Benchmark ΔR (forward, forward+backward) against the `mcr2` package (PyPI 1.0.2), same process.

Usage:  python benchmarks/bench_rate.py [--reps 30] [--out results/bench_rate.json]

Both implementations see the same features (m=1000 unit vectors in n=128 dims, float32, CPU) and
labels (k balanced classes). Before timing, the script checks that both give the same ΔR. `mcr2`'s
`eps` is ε, ours is `eps_sq` = ε². Runs alternate between the two, and the table reports medians.
"""
from __future__ import annotations

import argparse
import sys

import torch
from _bench import common_arguments, load_average, machine, problem, race, write_record

from redunet_book.rate import rate_reduction

try:
    from mcr2.primitives.coding_rate import DeltaR as mcr2_delta_r
except ImportError:  # pragma: no cover - depends on the optional bench extra
    sys.exit("mcr2 is not installed: pip install -c constraints.txt 'redunet-book[bench]'")


def forward_backward(f, Z):
    "Return a closure computing f(Z') and its gradient for a fresh leaf copy Z' of Z."
    def run():
        Zg = Z.detach().clone().requires_grad_()
        f(Zg).backward()
    return run


def bench(m: int, n: int, k: int, eps_sq: float, reps: int, warmup: int) -> list[dict]:
    "Median times of both implementations for one (m, n, k), forward and forward+backward."
    Z, y = problem(m, n, k)
    Y = torch.nn.functional.one_hot(y, k).float()
    def ours(Z):
        return rate_reduction(Z, y, eps_sq, num_classes=k)

    def theirs(Z):
        return mcr2_delta_r(Z, Y, eps_sq ** 0.5)
    v_ours, v_theirs = float(ours(Z)), float(theirs(Z))
    if abs(v_ours - v_theirs) > 1e-4 * max(1.0, abs(v_theirs)):
        raise AssertionError(f"k={k}: ΔR differs: redunet_book {v_ours} vs mcr2 {v_theirs}")
    rows = []
    for name, make in [("forward", lambda f: (lambda: f(Z))), ("forward+backward", lambda f: forward_backward(f, Z))]:
        t = race({"ours": make(ours), "mcr2": make(theirs)}, reps, warmup)
        rows.append(dict(m=m, n=n, k=k, eps_sq=eps_sq, **{"pass": name}, mcr2_ms=t["mcr2"], ours_ms=t["ours"],
                         speedup=t["mcr2"] / t["ours"], delta_r=v_ours, delta_r_mcr2=v_theirs))
    return rows


def main(argv=None):
    "Run the benchmark, print the table and write the JSON record."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(p, out="results/bench_rate.json")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [r for k in args.ks for r in bench(args.m, args.n, k, args.eps_sq, args.reps, args.warmup)]
    print(f"ΔR, m={args.m}, n={args.n}, float32, CPU: {machine()}; median of {args.reps} runs;"
          f" 1-min load average at the end {load_average():.2f}")
    print(f"{'k':>4}  {'pass':<17} {'mcr2 (ms)':>10} {'redunet_book (ms)':>18} {'speed-up':>9}")
    for r in rows:
        print(f"{r['k']:>4}  {r['pass']:<17} {r['mcr2_ms']:>10.2f} {r['ours_ms']:>18.2f} {r['speedup']:>8.1f}x")
    write_record("bench_rate.py", args, argv, rows)

if __name__ == "__main__":
    main()
