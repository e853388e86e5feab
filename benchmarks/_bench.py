"""Shared pieces of the benchmark scripts: the test problem, timing, and the JSON record of a run.

Imported by the scripts in this folder (run as `python benchmarks/<script>.py`, so this folder is on
sys.path); not part of the package.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from redunet_book.core import make_generator, normalize
from redunet_book.reproduce import device_description, git_revision


def machine() -> str:
    "CPU model and the number of torch threads (the package's own description of a device)."
    return device_description("cpu")


def git_commit() -> str:
    "The current git commit (with ' (dirty)' when tracked files changed), or 'unknown'."
    return git_revision()


def load_average() -> float:
    "The 1-minute load average (NaN where the OS does not report it)."
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def problem(m: int, n: int, k: int, seed: int = 0):
    "Unit-norm features (m, n) float32 and balanced shuffled labels (m,)."
    g = make_generator(seed)
    Z = normalize(torch.randn(m, n, generator=g))
    y = (torch.arange(m) % k)[torch.randperm(m, generator=g)]
    return Z, y


def timed(fn) -> float:
    "Wall time of one call of `fn`, in milliseconds."
    t0 = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - t0)


def race(runs: dict, reps: int, warmup: int) -> dict:
    "Median wall times (ms) of the callables in `runs`, alternating between them run by run."
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times = {key: [] for key in runs}
    for _ in range(reps):                          # alternate, so all sides see the same machine state
        for key, fn in runs.items():
            times[key].append(timed(fn))
    return {key: statistics.median(v) for key, v in times.items()}


def common_arguments(p: argparse.ArgumentParser, out: str) -> None:
    "The options every benchmark takes: sizes, repetitions, threads and the JSON path."
    p.add_argument("--reps", type=int, default=30, help="timed runs per side (median reported)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--m", type=int, default=1000)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--ks", type=int, nargs="+", default=[10, 100])
    p.add_argument("--eps-sq", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", default=out, help="JSON record path ('' to skip)")


def write_record(script: str, args, argv, rows: list[dict]) -> None:
    "Write the run's rows with the command, machine, torch version, commit, date and load to `args.out`."
    if not args.out:
        return
    record = dict(command=f"python benchmarks/{script} " + " ".join(argv if argv is not None else sys.argv[1:]),
                  machine=machine(), torch=torch.__version__, commit=git_commit(),
                  date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), reps=args.reps,
                  load_average=round(load_average(), 2), rows=rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}")
