"""Shared pieces of the benchmark scripts: the test problem, timing, the load of the machine, and the JSON record of a run.

Imported by the scripts in this folder (run as `python benchmarks/<script>.py`, so this folder is on
sys.path); not part of the package.

Timing (`race`): the sides of a comparison run alternately, one run each per round, in one process, so that
all see the same machine state; each side's times are summarised as min / median / max (`Spread`). A
record's row keeps the median under the plain key (`ours_ms`) and adds `ours_ms_min` and `ours_ms_max`
(`spread_fields`). A ratio of two sides (`speedup`, `ours_over_gram`) is the ratio of their medians; its
`_min` / `_max` are the smallest and largest ratio of the two runs of one round (`round_ratios`), which
sees less of the machine's drift than min / max of either side alone.

Load (`LoadWatch`): the 1-minute load average is read when a script starts and when it ends. A run is
*loaded* when either exceeds the number of cores this process may run on (`os.sched_getaffinity`, else
`os.cpu_count()`). The cores, not the torch thread count, are the comparison: the load average counts
every runnable thread of the machine (this run's own torch threads included, at the end), and the
threads slow each other down only once there are more of them than cores. The 1-minute average lags,
so a burst of other work during a short run hardly moves it; the watch therefore also measures the CPU
time the *other* processes of the machine took during the run (Linux: /proc/stat minus this process and
its children), as a mean number of cores (`other_cores`), and a run is loaded as well when that mean
reaches half a core: on this 2-core machine, one busy neighbour makes the second torch thread of every
parallel op wait for a core, and small ops then take milliseconds. A loaded run prints a warning line
under its table and says `loaded: true` in its record.
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
from typing import NamedTuple

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


def cores() -> int:
    "The number of CPU cores this process may run on."
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                                   # not Linux
        return os.cpu_count() or 1


def busy_seconds() -> float | None:
    "CPU seconds the whole machine has been busy since boot, all cores together (Linux /proc/stat; None elsewhere)."
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if fields[0] != "cpu":
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in (fields[1:9] + ["0"] * 8)[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    "CPU seconds of this process and of its finished children."
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class LoadWatch:
    "The load of the machine at the start (construction) and at the end (`end`) of a run, against its cores."
    OTHER_CORES_LIMIT = 0.5                        # mean cores taken by other processes that make a run loaded

    def __init__(self):
        self.start, self.stop, self.cores = load_average(), None, cores()
        self.other_cores = None
        self._t0, self._busy0, self._own0 = time.perf_counter(), busy_seconds(), own_seconds()

    def end(self) -> LoadWatch:
        "Read the load at the end of the run (call once the timing is over); returns self."
        self.stop = load_average()
        busy, wall = busy_seconds(), time.perf_counter() - self._t0
        if busy is not None and self._busy0 is not None and wall > 0:
            self.other_cores = max(0.0, (busy - self._busy0) - (own_seconds() - self._own0)) / wall
        return self

    @property
    def loaded(self) -> bool:
        "Whether the load average exceeded the cores (start or end), or other processes took half a core or more."
        over = any(v is not None and v > self.cores for v in (self.start, self.stop))     # NaN compares False
        return over or (self.other_cores is not None and self.other_cores >= self.OTHER_CORES_LIMIT)

    def summary(self) -> str:
        "'1-min load average 0.31 at the start, 1.95 at the end (2 cores); other processes 0.02 cores' for a title."
        end = "?" if self.stop is None else f"{self.stop:.2f}"
        others = "" if self.other_cores is None else f"; other processes took {self.other_cores:.2f} cores"
        return f"1-min load average {self.start:.2f} at the start, {end} at the end ({self.cores} cores){others}"

    def warning(self) -> str:
        "A warning line for a loaded run, else ''."
        if not self.loaded:
            return ""
        return (f"WARNING: the machine was loaded ({self.summary()}; limits: load average > {self.cores} cores, or other "
                f"processes ≥ {self.OTHER_CORES_LIMIT} cores): these times are slower and noisier than the code's; "
                "re-run on a quieter machine.")

    def fields(self) -> dict:
        "The record's load fields; `load_average` (the end, as in older records) is what the chapters quote."
        end = self.start if self.stop is None else self.stop
        others = None if self.other_cores is None else round(self.other_cores, 2)
        return dict(load_average=round(end, 2), load_average_start=round(self.start, 2), load_average_end=round(end, 2),
                    other_cores=others, cores=self.cores, torch_threads=torch.get_num_threads(), loaded=self.loaded)


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


class Spread(NamedTuple):
    "Min, median and max of one side's timed runs (ms), with the runs in order."
    min: float
    median: float
    max: float
    times: tuple

    @classmethod
    def of(cls, values) -> Spread:
        values = tuple(values)
        return cls(min(values), statistics.median(values), max(values), values)

    def scaled(self, factor: float) -> Spread:
        "The same spread in other units (e.g. factor 1e-3: ms to s)."
        return Spread(*(v * factor for v in self[:3]), tuple(v * factor for v in self.times))

    def __str__(self) -> str:
        return format_spread(self)


def format_spread(s: Spread, digits: int = 2) -> str:
    "'7.46 (7.10–9.31)': the median, then the range."
    return f"{s.median:.{digits}f} ({s.min:.{digits}f}–{s.max:.{digits}f})"


def race(runs: dict, reps: int, warmup: int) -> dict:
    "`Spread` of wall times (ms) of each callable in `runs`, alternating between them run by run."
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times = {key: [] for key in runs}
    for _ in range(reps):                          # alternate, so all sides see the same machine state
        for key, fn in runs.items():
            times[key].append(timed(fn))
    return {key: Spread.of(v) for key, v in times.items()}


def round_ratios(num: Spread, den: Spread) -> Spread:
    "`Spread` of the ratios num/den of the runs of each round of a `race` (paired, so drift cancels)."
    return Spread.of(a / b for a, b in zip(num.times, den.times))


def spread_fields(key: str, s: Spread, scale: float = 1.0) -> dict:
    "{key: median, key_min: min, key_max: max} (times `scale`, e.g. 1e-3 for seconds)."
    s = s.scaled(scale)
    return {key: s.median, f"{key}_min": s.min, f"{key}_max": s.max}


def ratio_fields(key: str, num: Spread, den: Spread) -> dict:
    "{key: ratio of the medians, key_min / key_max: the range of the round-by-round ratios}."
    r = round_ratios(num, den)
    return {key: num.median / den.median, f"{key}_min": r.min, f"{key}_max": r.max}


def common_arguments(p: argparse.ArgumentParser, out: str) -> None:
    "The options every benchmark takes: sizes, repetitions, threads and the JSON path."
    p.add_argument("--reps", type=int, default=30, help="timed runs per side (min/median/max reported)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--m", type=int, default=1000)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--ks", type=int, nargs="+", default=[10, 100])
    p.add_argument("--eps-sq", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", default=out, help="JSON record path ('' to skip)")


def write_record(script: str, args, argv, rows: list[dict], load: LoadWatch | None = None, **extra) -> None:
    "Write the run's rows with the command, machine, torch version, commit, date and load to `args.out`."
    if not args.out:
        return
    loads = load.fields() if load is not None else dict(load_average=round(load_average(), 2))
    record = dict(command=f"python benchmarks/{script} " + " ".join(argv if argv is not None else sys.argv[1:]),
                  machine=machine(), torch=torch.__version__, commit=git_commit(),
                  date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), reps=args.reps,
                  **loads, **extra, rows=rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}")
