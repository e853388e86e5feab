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
the two sides, and the table reports medians.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from redunet_book.core import make_generator, normalize
from redunet_book.operators import gradient_operators, rate_reduction_gradient
from redunet_book.rate import rate_reduction


def machine() -> str:
    "CPU model and the number of torch threads."
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {torch.get_num_threads()} torch threads, {platform.system()}"


def git_commit() -> str:
    "The current git commit, or 'unknown'."
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def problem(m: int, n: int, k: int, seed: int = 0):
    "Unit-norm features (m, n) float32 and balanced shuffled labels (m,)."
    g = make_generator(seed)
    Z = normalize(torch.randn(m, n, generator=g))
    y = (torch.arange(m) % k)[torch.randperm(m, generator=g)]
    return Z, y


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


def timed(fn) -> float:
    "Wall time of one call of `fn`, in milliseconds."
    t0 = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - t0)


def race(runs: dict, reps: int, warmup: int) -> dict:
    "Median wall times (ms) of the callables in `runs`, alternating between them."
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times = {key: [] for key in runs}
    for _ in range(reps):                          # alternate, so both see the same machine state
        for key, fn in runs.items():
            times[key].append(timed(fn))
    return {key: statistics.median(v) for key, v in times.items()}


def bench(m: int, n: int, k: int, eps_sq: float, reps: int, warmup: int) -> list[dict]:
    "Median times of both sides for one (m, n, k): operators, then gradient."
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
                         task=task, baseline=baseline, baseline_ms=t["baseline"], ours_ms=t["ours"],
                         speedup=t["baseline"] / t["ours"], max_rel_diff=err))
    return rows


def main(argv=None):
    "Run the benchmark, print the table and write the JSON record."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=30, help="timed runs per side (median reported)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--m", type=int, default=1000)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--ks", type=int, nargs="+", default=[10, 100])
    p.add_argument("--eps-sq", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", default="results/bench_operators.json", help="JSON record path ('' to skip)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [r for k in args.ks for r in bench(args.m, args.n, k, args.eps_sq, args.reps, args.warmup)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Gradient operators, m={args.m}, n={args.n}, float32, CPU: {machine()}; median of {args.reps} runs;"
          f" 1-min load average at the end {load:.2f}")
    print(f"{'k':>4}  {'task':<25} {'baseline':<27} {'baseline (ms)':>13} {'redunet_book (ms)':>18} {'speed-up':>9}")
    for r in rows:
        print(f"{r['k']:>4}  {r['task']:<25} {r['baseline']:<27} {r['baseline_ms']:>13.2f} {r['ours_ms']:>18.2f}"
              f" {r['speedup']:>8.1f}x")
    if args.out:
        record = dict(command="python benchmarks/bench_operators.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                      machine=machine(), torch=torch.__version__, commit=git_commit(),
                      date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), reps=args.reps,
                      load_average=round(load, 2), rows=rows)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
