"""Benchmark the vector ReduNet construction (Algorithm 1) at the size of Table 18: time and peak memory.

Usage:  python benchmarks/bench_vector.py [--reps 3] [--layers 100] [--out results/bench_vector.json]

The problem is the configuration of the paper's Table 18 with synthetic data of the same shape:
m = 5000 flattened 28×28 "images" (n = 784, unit-norm rows of uniform noise), k = 10 classes of 500,
L = 100 layers, η = 0.5, ε² = 0.1, λ = 500, float32 on the CPU. Two constructions see the same data:

- ours: `ReduNet(L, ...).fit(X, y)` — per layer one batched Cholesky for E and all Cʲ
  (`gradient_operators`), the training update over the pairs with πᵢⱼ > 0 only
  (`membership_residual`), and the rates R, Rc, ΔR of the new features (`history`);
- loop: the same layers with a Python loop over the classes: a dense `torch.linalg.inv` per class
  for Cʲ (and for E), and the training update class by class. It keeps only the features, not the
  operators: it is the cost of the training-feature transform alone.

A network must keep its operators to evaluate new data: L·(k + 1) matrices of n×n, 2.6 GiB here
(column `stored operators`), which is most of the `ours` peak; the loop's peak leaves them out.

Both record the same history. Before timing, the script checks that both give the same features
after a few layers (float32 tolerance). Timing: the two sides alternate, in one process, and the
table reports the median and the range (min–max) of each side's constructions. Peak memory: each
side is run once more in a fresh child process (`--child ours|loop`), which resets its peak resident
set size once the data are made (Linux /proc/self/clear_refs) and reports the peak above that
starting size.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
from _bench import LoadWatch, format_spread, machine, race, ratio_fields, spread_fields, write_record
from bench_operators import loop_operators

from redunet_book.core import make_generator, normalize
from redunet_book.rate import rate_terms
from redunet_book.vector import ReduNet


def table18_problem(m: int = 5000, n: int = 784, k: int = 10, seed: int = 0):
    "Unit-norm rows (m, n) float32 of nonnegative noise (image-like), balanced labels (m,)."
    X = normalize(torch.rand(m, n, generator=make_generator(seed)))
    return X, torch.arange(k).repeat_interleave(m // k)


def loop_construction(X, y, k: int, layers: int, eta: float, eps_sq: float):
    "Algorithm 1 with the training labels, class by class: dense inverses, per-class update; returns (Z, history)."
    Z = normalize(X)
    m = Z.shape[0]
    history = [torch.stack(rate_terms(Z, y, eps_sq, k))]
    for _ in range(layers):
        E, C = loop_operators(Z, y, k, eps_sq)
        step = Z @ E
        for j in range(k):
            sel = y == j
            step[sel] -= (int(sel.sum()) / m) * (Z[sel] @ C[j])       # γⱼ Cʲzᵢ for the samples of class j
        Z = normalize(Z + eta * step)
        history.append(torch.stack(rate_terms(Z, y, eps_sq, k)))
    return Z, torch.stack(history)


def build(variant: str, X, y, k: int, layers: int, eta: float, eps_sq: float, lam: float):
    "Run one construction: 'ours' (ReduNet.fit) or 'loop'; returns the final training features."
    if variant == "ours":
        return ReduNet(layers, eta=eta, eps_sq=eps_sq, lam=lam).fit(X, y, num_classes=k).train_features_
    return loop_construction(X, y, k, layers, eta, eps_sq)[0]


def status_mib(field: str) -> float:
    "A memory field of /proc/self/status (VmRSS, VmHWM = peak RSS), MiB."
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def child(args) -> None:
    "Child process: make the data, reset the peak RSS, build once, print the peak above the starting RSS as JSON."
    X, y = table18_problem(args.m, args.n, args.k)
    with open("/proc/self/clear_refs", "w") as f:              # "5" resets VmHWM to the current RSS
        f.write("5")
    base = status_mib("VmRSS")
    t0 = time.perf_counter()
    build(args.child, X, y, args.k, args.layers, args.eta, args.eps_sq, args.lam)
    print(json.dumps(dict(seconds=time.perf_counter() - t0, peak_mib=status_mib("VmHWM") - base, base_mib=base)))


def child_memory(variant: str, argv: list[str]) -> dict:
    "Peak memory of one construction, measured in a fresh child process."
    out = subprocess.run([sys.executable, __file__, "--child", variant, *argv], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    "Check agreement, time both constructions alternately, measure peak memory in children, print and save."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="timed constructions per side (min/median/max reported)")
    p.add_argument("--layers", type=int, default=100)
    p.add_argument("--m", type=int, default=5000)
    p.add_argument("--n", type=int, default=784)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--eta", type=float, default=0.5)
    p.add_argument("--eps-sq", type=float, default=0.1)
    p.add_argument("--lam", type=float, default=500.0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--child", choices=["ours", "loop"], help=argparse.SUPPRESS)
    p.add_argument("--out", default="results/bench_vector.json", help="JSON record path ('' to skip)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        return child(args)
    argv = list(sys.argv[1:] if argv is None else argv)
    X, y = table18_problem(args.m, args.n, args.k)
    a = build("ours", X, y, args.k, 3, args.eta, args.eps_sq, args.lam)
    b = build("loop", X, y, args.k, 3, args.eta, args.eps_sq, args.lam)
    err = float((a - b).abs().max())
    if err > 1e-4:
        raise AssertionError(f"the two constructions differ by {err:.2e} after 3 layers")
    runs = {side: (lambda side=side: build(side, X, y, args.k, args.layers, args.eta, args.eps_sq, args.lam))
            for side in ("loop", "ours")}
    load = LoadWatch()
    t = race(runs, args.reps, warmup=0)
    child_argv = [f"--{key.replace('_', '-')}={getattr(args, key)}"
                  for key in ("layers", "m", "n", "k", "eta", "eps_sq", "lam", "threads")]
    mem = {side: child_memory(side, child_argv) for side in ("loop", "ours")}
    load.end()
    rows = [dict(m=args.m, n=args.n, k=args.k, layers=args.layers, eta=args.eta, eps_sq=args.eps_sq, lam=args.lam,
                 dtype="float32", device="cpu", side=side, **spread_fields("seconds", t[side], 1e-3),
                 **spread_fields("seconds_per_layer", t[side], 1e-3 / args.layers), peak_mib=mem[side]["peak_mib"],
                 stored_operators_mib=(args.layers * (args.k + 1) * args.n ** 2 * 4 / 2 ** 20) if side == "ours" else 0.0,
                 max_abs_diff_3_layers=err) for side in ("loop", "ours")]
    rows[1].update(ratio_fields("speedup", t["loop"], t["ours"]))
    print(f"Vector ReduNet construction (Table 18 size: m={args.m}, n={args.n}, k={args.k}, L={args.layers}, "
          f"λ={args.lam}), float32, CPU: {machine()}; median (min–max) of {args.reps}; {load.summary()}")
    print(f"{'construction':<40} {'time (s)':>19} {'per layer (ms)':>15} {'peak memory (MiB)':>18}"
          f" {'stored operators (MiB)':>23}")
    names = {"loop": "per-class loop, dense inv", "ours": "redunet_book ReduNet.fit (batched)"}
    for r in rows:
        print(f"{names[r['side']]:<40} {format_spread(t[r['side']].scaled(1e-3), 1):>19}"
              f" {1e3 * r['seconds_per_layer']:>15.0f} {r['peak_mib']:>18.0f} {r['stored_operators_mib']:>23.0f}")
    print(f"speed-up {t['loop'].median / t['ours'].median:.2f}x; target: the whole construction under 180 s on 2 cores")
    if load.loaded:
        print(load.warning())
    write_record("bench_vector.py", args, argv, rows, load)


if __name__ == "__main__":
    main()
