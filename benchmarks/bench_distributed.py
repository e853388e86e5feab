"""Benchmark the construction of a vector ReduNet over torch.distributed: 1 and 2 gloo processes on this machine, as m grows.

Usage:  python benchmarks/bench_distributed.py [--sizes 250 1000 4000 16000 64000] [--n 32] [--k 10] [--layers 4]
                                              [--reps 5] [--out results/bench_distributed.json]

For each number of processes (1, then 2), `distributed.launch` starts the processes (gloo on 127.0.0.1, one torch
thread each) and every rank runs all sample counts m (all ranks together). Each rank holds its shard of the same
float64 data (unit-norm features, balanced labels, `_bench.problem`) and times, alternating run by run after
`--warmup` untimed rounds:

- `distributed.fit` of a `--layers`-layer ReduNet; a layer's time is the slowest rank's wall time (after a
  barrier) divided by the number of layers;
- all-reduces of a buffer of the statistics' size, (k + 1)·n² + k float64 numbers, one layer's communication
  (the mean of ROUNDS back to back, after the barrier);
- with one process, also `ReduNet.fit` without the module (the plain one-process construction).

The bytes are counted by wrapping torch.distributed's all_reduce and all_gather during one untimed fit: the
record's `bytes_per_layer` is the size of one all-reduce of the statistics (every all-reduce of a fit has that
size; a plain fit makes layers + 1 of them, and one all_gather of 10 integers per rank to agree on the inputs).
Times are reported as min / median / max of the runs; the 1-minute load average at the start and end of the
script is recorded: this is a 2-core machine shared with other work, so two processes cannot reach a speed-up
of 2 and the numbers move with the neighbours' load.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.distributed as dist
from _bench import LoadWatch, Spread, format_spread, machine, problem, spread_fields, write_record

from redunet_book import distributed
from redunet_book.vector import ReduNet


ROUNDS = 20             # all-reduces timed back to back for one measurement of t_c (a barrier alone is as long as one)


def _counting(fn, counts: dict, key: str):
    "`fn` wrapped to add the bytes of its tensor argument to counts[key] and one call to counts[key + '_calls']."
    def wrapped(*args, **kwargs):
        t = args[1] if key == "all_gather" else args[0]
        counts[key] = counts.get(key, 0) + t.numel() * t.element_size()
        counts[key + "_calls"] = counts.get(key + "_calls", 0) + 1
        return fn(*args, **kwargs)
    return wrapped


def worker(rank: int, world_size: int, sizes: list, n: int, k: int, layers: int, reps: int, warmup: int) -> list:
    "On one rank: for each m, the bytes of one fit and the slowest rank's times of fit, of the all-reduce alone and (N = 1) of ReduNet.fit."
    out = []
    for m in sizes:
        Z, y = problem(m, n, k)
        Z = Z.double()
        part = distributed._demo_shard(m, rank, world_size)
        Zr, yr = Z[part], y[part]
        counts = {}
        reduce, gather = dist.all_reduce, dist.all_gather
        dist.all_reduce, dist.all_gather = _counting(reduce, counts, "all_reduce"), _counting(gather, counts, "all_gather")
        try:
            distributed.fit(ReduNet(layers, 0.5, 0.5, 10.0), Zr, yr, num_classes=k)
        finally:
            dist.all_reduce, dist.all_gather = reduce, gather
        buffer = torch.zeros((k + 1) * n * n + k, dtype=torch.float64)
        runs = {"fit": lambda: distributed.fit(ReduNet(layers, 0.5, 0.5, 10.0), Zr, yr, num_classes=k),
                "allreduce": lambda: [dist.all_reduce(buffer) for _ in range(ROUNDS)]}
        if world_size == 1:
            runs["plain"] = lambda: ReduNet(layers, 0.5, 0.5, 10.0).fit(Zr, yr, num_classes=k)
        times = {key: [] for key in runs}
        for i in range(warmup + reps):
            for key, fn in runs.items():                          # alternate, so all see the same machine state
                dist.barrier()
                t0 = time.perf_counter()
                fn()
                if i >= warmup:
                    times[key].append(time.perf_counter() - t0)
        times["allreduce"] = [t / ROUNDS for t in times["allreduce"]]   # one all-reduce: the mean of ROUNDS back to back
        slowest = torch.tensor([times[key] for key in runs], dtype=torch.float64)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)             # a layer ends when the slowest rank is done
        out.append(dict(m=m, counts=counts, **{key: slowest[i].tolist() for i, key in enumerate(runs)}))
    return out


def main(argv=None):
    "Run the benchmark on 1 and 2 processes, print the table and write the JSON record."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 4000, 16000, 64000], help="samples m, all ranks together")
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--reps", type=int, default=5, help="timed runs per function (min/median/max reported)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds for each launch")
    p.add_argument("--out", default="results/bench_distributed.json", help="JSON record path ('' to skip)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)                                       # as in the workers (recorded as torch_threads)
    load = LoadWatch()
    rows = []
    for procs in (1, 2):
        results = distributed.launch(worker, procs, (args.sizes, args.n, args.k, args.layers, args.reps, args.warmup),
                                     timeout=args.timeout)
        for res in results[0]:                                     # the times are the slowest rank's already
            c = res["counts"]
            fit = Spread.of(res["fit"]).scaled(1 / args.layers)
            plain = Spread.of(res["plain"]).scaled(1 / args.layers) if "plain" in res else None
            row = dict(processes=procs, m=res["m"], n=args.n, k=args.k, layers=args.layers, dtype="float64",
                       **spread_fields("seconds_per_layer", fit), **spread_fields("allreduce_ms", Spread.of(res["allreduce"]), 1e3),
                       bytes_per_layer=c["all_reduce"] // c["all_reduce_calls"], allreduce_calls=c["all_reduce_calls"],
                       allgather_bytes=c.get("all_gather", 0), allgather_calls=c.get("all_gather_calls", 0))
            if plain is not None:
                row.update(spread_fields("plain_seconds_per_layer", plain))
            else:
                row.update(plain_seconds_per_layer=None, plain_seconds_per_layer_min=None, plain_seconds_per_layer_max=None)
            rows.append(row)
    load.end()
    print(f"distributed.fit of a {args.layers}-layer ReduNet, n={args.n}, k={args.k}, float64, gloo on 127.0.0.1, one torch "
          f"thread per process; {machine()}; median (min–max) of {args.reps} runs; {load.summary()}")
    print(f"{'procs':>5} {'m':>7} {'ms per layer':>22} {'all-reduce alone (ms)':>24} {'bytes per layer':>16} "
          f"{'ReduNet.fit (ms/layer)':>24}")
    for r in rows:
        fit = Spread(r["seconds_per_layer_min"] * 1e3, r["seconds_per_layer"] * 1e3, r["seconds_per_layer_max"] * 1e3, ())
        red = Spread(r["allreduce_ms_min"], r["allreduce_ms"], r["allreduce_ms_max"], ())
        plain = "" if r["plain_seconds_per_layer"] is None else format_spread(Spread(
            r["plain_seconds_per_layer_min"] * 1e3, r["plain_seconds_per_layer"] * 1e3, r["plain_seconds_per_layer_max"] * 1e3, ()))
        print(f"{r['processes']:>5} {r['m']:>7} {format_spread(fit):>22} {format_spread(red, 3):>24} {r['bytes_per_layer']:>16,} {plain:>24}")
    if load.loaded:
        print(load.warning())
    write_record("bench_distributed.py", args, argv, rows, load, n=args.n, k=args.k, layers=args.layers)


if __name__ == "__main__":
    main()
