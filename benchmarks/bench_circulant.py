"""Benchmark multi-channel circular convolution (the lifting of eqs. 36/40 and the operators of Proposition 5).

Usage:  python benchmarks/bench_circulant.py [--reps 20] [--device cpu] [--out results/bench_circulant.json]

Three ways to compute z̄[c] = Σ_c' k[c, c'] ⊛ x[c'] for a batch, in one process with alternating runs:

- fft: `multichannel_circular_conv(..., method="fft")` (rfft, a per-frequency channel mix, irfft);
- direct: `multichannel_circular_conv(..., method="direct")`, i.e. torch's conv1d / conv2d on the input
  padded circularly (the deep-learning way, kernel flipped: torch's convolutions are correlations);
- dense: one matrix product with the explicit block-circulant matrix [circ(k[c, c'])] (eqs. 37/135),
  built once outside the timing (skipped when that matrix would exceed 2^26 entries).

`method="auto"` (the package default) takes `direct` for real 2D kernels of at most DIRECT_MAX_TAPS entries.
On CUDA, TF32 is switched off so that all sides compute in float32. Runs alternate between the sides;
the table reports the median and the range (min–max) of each side's runs.

Short kernels (K = 7 or 3×3, as in a lifting) and full-size kernels (K = T or H×W, as the operators Ē
and C̄j of Proposition 5 are) are timed. Before timing, the script checks that all sides agree.
"""
from __future__ import annotations

import argparse
import math

import torch
from _bench import LoadWatch, format_spread, machine, race, spread_fields, write_record

from redunet_book.circulant import DIRECT_MAX_TAPS, circ, doubly_block_circulant, multichannel_circular_conv
from redunet_book.core import make_generator


def dense_matrix(k, size):
    "The explicit (C_out·S, C_in·S) block-circulant matrix of the kernel, zero-padded to the signal size."
    kp = torch.zeros(*k.shape[:2], *size, dtype=k.dtype, device=k.device)
    kp[(slice(None), slice(None)) + tuple(slice(0, s) for s in k.shape[2:])] = k
    f = circ if len(size) == 1 else doubly_block_circulant
    return torch.cat([torch.cat([f(kp[o, i]) for i in range(k.shape[1])], 1) for o in range(k.shape[0])])


def bench(m, c_in, c_out, size, ksize, reps, warmup, device) -> dict:
    "Times (min/median/max) of the three ways for one problem."
    g = make_generator(0)
    dims = len(size)
    x = torch.randn(m, c_in, *size, generator=g).to(device)
    k = torch.randn(c_out, c_in, *ksize, generator=g).to(device)
    ours = multichannel_circular_conv(x, k, dims, method="fft")
    runs = {"fft": lambda: multichannel_circular_conv(x, k, dims, method="fft"),
            "direct": lambda: multichannel_circular_conv(x, k, dims, method="direct")}
    err = float((runs["direct"]() - ours).abs().max() / ours.abs().max())
    n_dense = c_out * c_in * math.prod(size) ** 2
    if n_dense <= 2 ** 26:
        M = dense_matrix(k, size)
        xf = x.flatten(1)
        err = max(err, float((xf @ M.T - ours.flatten(1)).abs().max() / ours.abs().max()))
        runs["dense"] = lambda: xf @ M.T
    if err > 1e-4:
        raise AssertionError(f"size={size}, kernel={ksize}: the three ways differ by {err:.2e} (relative)")
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    timed_runs = {key: (lambda fn=fn: (fn(), sync())) for key, fn in runs.items()}
    t = race(timed_runs, reps, warmup)
    dense = spread_fields("dense_ms", t["dense"]) if "dense" in t else dict(dense_ms=None, dense_ms_min=None, dense_ms_max=None)
    return dict(m=m, c_in=c_in, c_out=c_out, size="×".join(map(str, size)), kernel="×".join(map(str, ksize)),
                device=str(device), dtype="float32", **spread_fields("fft_ms", t["fft"]),
                **spread_fields("direct_ms", t["direct"]), **dense,
                auto="direct" if dims == 2 and math.prod(ksize) <= DIRECT_MAX_TAPS else "fft", max_rel_diff=err,
                _spreads=t)


def main(argv=None):
    "Run the benchmark, print the table and write the JSON record."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=20, help="timed runs per side (min/median/max reported)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--m", type=int, default=256, help="signals per batch")
    p.add_argument("--channels", type=int, default=16, help="output channels C")
    p.add_argument("--scale", type=int, default=1, help="divide every signal and kernel size by this (quick checks)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", default="results/bench_circulant.json", help="JSON record path ('' to skip)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    problems = [((64,), (7,)), ((64,), (64,)), ((512,), (7,)), ((512,), (512,)),
                ((28, 28), (3, 3)), ((28, 28), (28, 28))]
    square = [((64,), (64,)), ((16, 16), (16, 16))]
    def scaled(sizes):
        return tuple(max(1, v // args.scale) for v in sizes)
    problems, square = ([(scaled(s), scaled(k)) for s, k in group] for group in (problems, square))
    device = torch.device(args.device)
    load = LoadWatch()
    rows = [bench(args.m, 1, args.channels, s, k, args.reps, args.warmup, device) for s, k in problems]
    rows += [bench(args.m, args.channels, args.channels, s, k, args.reps, args.warmup, device) for s, k in square]
    load.end()
    print(f"Multi-channel circular convolution, m={args.m}, float32, {args.device}: {machine()}; "
          f"median (min–max) of {args.reps} alternating runs; {load.summary()}")
    print(f"{'size':>7} {'kernel':>7} {'C_in→C_out':>10} {'fft (ms)':>22} {'direct (ms)':>22} {'dense (ms)':>22} {'auto':>7}")
    for r in rows:
        t = r.pop("_spreads")
        dense = format_spread(t["dense"]) if "dense" in t else "–"
        print(f"{r['size']:>7} {r['kernel']:>7} {str(r['c_in']) + '→' + str(r['c_out']):>10} {format_spread(t['fft']):>22}"
              f" {format_spread(t['direct']):>22} {dense:>22} {r['auto']:>7}")
    if load.loaded:
        print(load.warning())
    write_record("bench_circulant.py", args, argv, rows, load)


if __name__ == "__main__":
    main()
