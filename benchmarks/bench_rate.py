"""Benchmark ΔR (forward, forward+backward) against the `mcr2` package (PyPI 1.0.2), same process.

Usage:  python benchmarks/bench_rate.py [--reps 30] [--out results/bench_rate.json]

Both implementations see the same features (m=1000 unit vectors in n=128 dims, float32, CPU) and
labels (k balanced classes). Before timing, the script checks that both give the same ΔR. `mcr2`'s
`eps` is ε, ours is `eps_sq` = ε². Runs alternate between the two, and the table reports medians.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from redunet_book.core import make_generator, normalize
from redunet_book.rate import rate_reduction

try:
    from mcr2.primitives.coding_rate import DeltaR as mcr2_delta_r
except ImportError:  # pragma: no cover - depends on the optional bench extra
    sys.exit("mcr2 is not installed: pip install -c constraints.txt 'redunet-book[bench]'")


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
    "Unit-norm features (m, n) float32, balanced shuffled labels (m,), and their one-hot (m, k)."
    g = make_generator(seed)
    Z = normalize(torch.randn(m, n, generator=g))
    y = (torch.arange(m) % k)[torch.randperm(m, generator=g)]
    return Z, y, torch.nn.functional.one_hot(y, k).float()


def timed(fn) -> float:
    "Wall time of one call of `fn`, in milliseconds."
    t0 = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - t0)


def forward_backward(f, Z):
    "Return a closure computing f(Z') and its gradient for a fresh leaf copy Z' of Z."
    def run():
        Zg = Z.detach().clone().requires_grad_()
        f(Zg).backward()
    return run


def bench(m: int, n: int, k: int, eps_sq: float, reps: int, warmup: int) -> list[dict]:
    "Median times of both implementations for one (m, n, k), forward and forward+backward."
    Z, y, Y = problem(m, n, k)
    ours = lambda Z: rate_reduction(Z, y, eps_sq, num_classes=k)
    theirs = lambda Z: mcr2_delta_r(Z, Y, eps_sq ** 0.5)
    v_ours, v_theirs = float(ours(Z)), float(theirs(Z))
    if abs(v_ours - v_theirs) > 1e-4 * max(1.0, abs(v_theirs)):
        raise AssertionError(f"k={k}: ΔR differs: redunet_book {v_ours} vs mcr2 {v_theirs}")
    rows = []
    for name, make in [("forward", lambda f: (lambda: f(Z))), ("forward+backward", lambda f: forward_backward(f, Z))]:
        runs = {"ours": make(ours), "mcr2": make(theirs)}
        for _ in range(warmup):
            for fn in runs.values():
                fn()
        times = {key: [] for key in runs}
        for _ in range(reps):                      # alternate, so both see the same machine state
            for key, fn in runs.items():
                times[key].append(timed(fn))
        t_ours, t_theirs = statistics.median(times["ours"]), statistics.median(times["mcr2"])
        rows.append(dict(m=m, n=n, k=k, eps_sq=eps_sq, **{"pass": name}, mcr2_ms=t_theirs, ours_ms=t_ours,
                         speedup=t_theirs / t_ours, delta_r=v_ours, delta_r_mcr2=v_theirs))
    return rows


def main(argv=None):
    "Run the benchmark, print the table and write the JSON record."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=30, help="timed runs per implementation (median reported)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--m", type=int, default=1000)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--ks", type=int, nargs="+", default=[10, 100])
    p.add_argument("--eps-sq", type=float, default=0.5)
    p.add_argument("--out", default="results/bench_rate.json", help="JSON record path ('' to skip)")
    args = p.parse_args(argv)
    rows = [r for k in args.ks for r in bench(args.m, args.n, k, args.eps_sq, args.reps, args.warmup)]
    print(f"ΔR, m={args.m}, n={args.n}, float32, CPU: {machine()}; median of {args.reps} runs")
    print(f"{'k':>4}  {'pass':<17} {'mcr2 (ms)':>10} {'redunet_book (ms)':>18} {'speed-up':>9}")
    for r in rows:
        print(f"{r['k']:>4}  {r['pass']:<17} {r['mcr2_ms']:>10.2f} {r['ours_ms']:>18.2f} {r['speedup']:>8.1f}x")
    if args.out:
        record = dict(command="python benchmarks/bench_rate.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                      machine=machine(), torch=torch.__version__, commit=git_commit(),
                      date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), reps=args.reps, rows=rows)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
