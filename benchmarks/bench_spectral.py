"""Benchmark the spectral ReduNet (redunet_book.spectral): one 2D layer, four implementations, and the
paper's translation-invariant MNIST construction end to end.

Usage:  python benchmarks/bench_spectral.py [--reps 5] [--threads 2] [--data auto|mnist|random]
                                            [--out results/bench_spectral.json]

Part 1, one layer (Algorithm 3, lines 2-23, with the true labels) built from m = 100 MNIST test
images (10 per class, as `make data` provided them; `--data random`, or `auto` when MNIST is not
found: seeded uniform random 28x28 images) lifted by C = 35 random 9x9 filters and a soft threshold,
28x28, k = 10, float32:

- loop / full / dense: the literal Algorithm 3, a Python loop over all H*W frequencies with a dense
  `torch.linalg.inv` for E(p) and each C^j(p), then a loop over frequencies for the update;
- batched / full / dense: `SpectralReduNet` machinery over the full `fftn` spectrum, dense operators;
- batched / half / dense: the `rfftn` half spectrum (weights 2 for frequencies whose twin is dropped);
- batched / half / Woodbury: the default (`form='auto'`): classes with fewer samples than channels
  store and apply a low-rank factor.

Every variant's output features are checked against the default's (float32 tolerance) first.
Times are the median and range (min–max) of --reps runs (alternating; the slow loop: --loop-reps runs
of its own), peak memory is the growth of the peak resident set of a fresh child process running the
variant once (its VmHWM, reset after loading the data and a small warm-up run, minus its resident set
at that point; torch's CPU allocations all show there), and "stored" counts the bytes of the layer's
operator tensors.

Part 2, the paper's translation-invariant MNIST configuration (`TranslationConfig.paper()`, §5 /
Appendix E.3: m = 100, 10 per class, C = 75 random 9x9 kernels, L = 25 layers, eta = 0.5,
eps^2 = 0.1): `SpectralReduNet(L, eta, eps_sq, lam).fit(Z, labels)` on the lifted features
(m, C, 28, 28), run --e2e-reps times, each in a fresh child process: construction time and peak
memory (min/median/max over the children), stored bytes, final Delta R_circ.

Targets of issue 14, reported as met or not (nothing fails): the default one-layer variant in at most
60 ms, the TI-MNIST construction in at most 1.4 GiB of peak memory. `--channels`, `--e2e-channels`,
`--layers`, `--per-class`, `--size` and `--kernel` shrink the problem for quick checks.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from _bench import LoadWatch, Spread, common_arguments, format_spread, machine, race, spread_fields, write_record

from redunet_book.core import membership_matrix, normalize
from redunet_book.invariance import TranslationConfig
from redunet_book.lifting import Lifting2d
from redunet_book.spectral import (SpectralReduLayer, SpectralReduNet, from_spectral, spectral_operators,
                                   spectral_weights, to_spectral)

PAPER = TranslationConfig.paper()                                   # the paper's TI-MNIST setting
EPS_SQ, ETA, LAM = PAPER.eps_sq, PAPER.eta, PAPER.lam                # λ only matters for π̂, not for a labelled fit
TARGET_LAYER_MS, TARGET_E2E_MIB = 60.0, 1.4 * 1024                   # issue 14
VARIANTS = {"loop/full/dense": None, "batched/full/dense": (False, "dense"),
            "batched/half/dense": (True, "dense"), "batched/half/woodbury": (True, "auto")}


def data(channels: int, per_class: int = 10, seed: int = 0, source: str = "auto", size: int = 28, kernel: int = 9):
    "Lifted features (m, C, size, size) float32, labels (m,) and source: MNIST test images (if found) or seeded random ones."
    X = None
    if source != "random" and size == 28:
        try:
            from redunet_book.data import balanced_split, load_mnist
            images, labels = load_mnist()
            idx, _ = balanced_split(labels, per_class, 0, seed=seed)
            X, y, source = images[idx].float() / 255, labels[idx], "MNIST test split"
        except (FileNotFoundError, ImportError, ValueError):
            if source == "mnist":
                raise
    if X is None:
        g = torch.Generator().manual_seed(seed)
        X, source = torch.rand(10 * per_class, size, size, generator=g), "random"
        y = torch.arange(10).repeat_interleave(per_class)
    lift = Lifting2d(channels, kernel, threshold=0.0, normalize_output=True, seed=seed)
    return lift(X), y, source


def rss_mib() -> float:
    "The current resident set size (MiB)."
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2 ** 20


def reset_peak() -> bool:
    "Reset the kernel's record of this process's peak resident set (Linux: write 5 to /proc/self/clear_refs)."
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mib() -> float:
    "The peak resident set size (MiB) since the last `reset_peak` (VmHWM), else since the process started."
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loop_layer(Z, Pi):
    "Algorithm 3 literally: per frequency, dense inverses for E(p) and every C^j(p); then per-frequency updates."
    m, C, H, W = Z.shape
    k = Pi.shape[1]
    V = torch.fft.fftn(Z, dim=(2, 3)).reshape(m, C, H * W)          # (m, C, HW), unnormalised DFT
    tr = Pi.sum(0)
    alpha, alphas, gammas = C / (m * EPS_SQ), C / (tr * EPS_SQ), tr / m
    eye = torch.eye(C, dtype=V.dtype)
    E, Cs = [], []
    for p in range(H * W):                                           # lines 5-7
        Vp = V[:, :, p].T                                            # (C, m)
        E.append(alpha * torch.linalg.inv(eye + alpha * Vp @ Vp.mH))
        Cs.append(torch.stack([alphas[j] * torch.linalg.inv(eye + alphas[j] * (Vp * Pi[:, j]) @ Vp.mH) for j in range(k)]))
    out = torch.empty_like(V)
    for p in range(H * W):                                           # lines 11-21, with the true Π
        Vp = V[:, :, p].T
        comp = sum(gammas[j] * (Cs[p][j] @ Vp) * Pi[:, j] for j in range(k))
        out[:, :, p] = (Vp + ETA * (E[p] @ Vp - comp)).T
    out = torch.fft.ifftn(out.reshape(m, C, H, W), dim=(2, 3)).real
    stored = sum(t.numel() * t.element_size() for t in E) + sum(t.numel() * t.element_size() for t in Cs)
    return normalize(out), stored


def batched_layer(Z, Pi, half: bool, form: str):
    "One layer with the package: operators batched over (class, frequency), then the update (Algorithm 3, line 20)."
    shape = tuple(Z.shape[2:])
    V = to_spectral(Z, half)
    ops = spectral_operators(V, Pi, EPS_SQ, spectral_weights(shape, half, Z.dtype), math.prod(shape), form)
    layer = SpectralReduLayer.from_operators(ops, shape, ETA, LAM, half)
    out = from_spectral(layer.step(V, Pi), shape, half)
    return out, layer.E.numel() * layer.E.element_size() + layer.C.numel() * layer.C.element_size()


def run_variant(name: str, Z, Pi):
    "Build one layer with the named variant: (output features, stored bytes)."
    spec = VARIANTS[name]
    return loop_layer(Z, Pi) if spec is None else batched_layer(Z, Pi, *spec)


E2E_VARIANTS = {"batched/half/woodbury": "end_to_end", "batched/half/woodbury, trim_memory": "end_to_end_trim"}


def end_to_end(Z, y, layers: int, trim_memory: bool = False):
    "The paper's TI-MNIST construction: L layers (paper: 25) on (m, C, 28, 28) features (freed memory handed back per layer if asked)."
    net = SpectralReduNet(layers, eta=ETA, eps_sq=EPS_SQ, lam=LAM).fit(Z, y, trim_memory=trim_memory)
    stored = sum(b.numel() * b.element_size() for n_, b in net.named_buffers() if n_.endswith((".E", ".C")))
    return net, stored


def problem_options(args) -> list[str]:
    "The options a child needs to build the same problem as the parent."
    return [f"--threads={args.threads}", f"--data={args.data}", f"--per-class={args.per_class}", f"--size={args.size}",
            f"--kernel={args.kernel}", f"--channels={args.channels}", f"--e2e-channels={args.e2e_channels}",
            f"--layers={args.layers}"]


def child(task: str, args) -> None:
    "Run one task once in this (fresh) process and print its time and memory as JSON."
    if args.threads:
        torch.set_num_threads(args.threads)
    C = args.e2e_channels if task.startswith("end_to_end") else args.channels
    Z, y, _ = data(C, args.per_class, source=args.data, size=args.size, kernel=args.kernel)
    Pi = membership_matrix(y, Z.shape[0], dtype=Z.dtype)
    small = Z[:, :4, :8, :8].contiguous()                            # page in the code paths (FFT, LAPACK) first,
    run_variant("loop/full/dense" if task == "loop/full/dense" else "batched/half/woodbury", small,
                Pi)                                                  # so that the peak measures the task's own memory
    base = rss_mib()
    reset = reset_peak()                                             # the peak of the task alone, not of the loading
    t0 = time.perf_counter()
    if task.startswith("end_to_end"):
        net, stored = end_to_end(Z, y, args.layers, trim_memory=task == "end_to_end_trim")
        extra = dict(delta_r=[float(net.history[0, 2]), float(net.history[-1, 2])], layers=len(net.layers))
    else:
        _, stored = run_variant(task, Z, Pi)
        extra = {}
    seconds = time.perf_counter() - t0
    print(json.dumps(dict(seconds=seconds, peak_mib=peak_mib() - base, base_mib=base, peak_reset=reset,
                          stored_bytes=stored, **extra)))


def in_child(task: str, args) -> dict:
    "Run `task` in a fresh Python process (so that its peak memory is its own)."
    out = subprocess.run([sys.executable, __file__, "--child", task, *problem_options(args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    "Check agreement, time the one-layer variants alternately, measure memory and the TI-MNIST construction in children."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(p, "results/bench_spectral.json")
    p.set_defaults(reps=5, warmup=1, threads=2)
    p.add_argument("--loop-reps", type=int, default=3, help="timed runs of the (slow) per-frequency loop")
    p.add_argument("--e2e-reps", type=int, default=3, help="TI-MNIST constructions, each in a fresh child process")
    p.add_argument("--data", choices=["auto", "mnist", "random"], default="auto",
                   help="images: MNIST test split ('auto': if found), or seeded random 28x28 ones")
    p.add_argument("--per-class", type=int, default=PAPER.train_per_class, help="images per class (m = 10 x this)")
    p.add_argument("--channels", type=int, default=35, help="lifted channels C of the one-layer benchmark")
    p.add_argument("--e2e-channels", type=int, default=max(PAPER.channels_grid), help="C of the TI-MNIST construction")
    p.add_argument("--layers", type=int, default=PAPER.num_layers, help="L of the TI-MNIST construction")
    p.add_argument("--size", type=int, default=28, help="image side (28: MNIST; smaller: random images, quick checks)")
    p.add_argument("--kernel", type=int, default=PAPER.kernel_size, help="lifting kernel side")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="one-layer variants to time, comma separated (batched/half/woodbury, the reference, always runs)")
    p.add_argument("--note", default="", help="free text stored in the record (e.g. how the cores were pinned)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    variants = [name for name in VARIANTS if name in args.variants.split(",") or name == "batched/half/woodbury"]
    load = LoadWatch()
    Z, y, source = data(args.channels, args.per_class, source=args.data, size=args.size, kernel=args.kernel)
    Pi = membership_matrix(y, Z.shape[0], dtype=Z.dtype)
    ref = run_variant("batched/half/woodbury", Z, Pi)[0]
    for name in variants:                                            # all variants agree before timing
        out = run_variant(name, Z, Pi)[0]
        err = float((out - ref).abs().max())
        assert err < 1e-4, f"{name} differs from the default by {err:.2e}"
    fast = {name: (lambda name=name: run_variant(name, Z, Pi)) for name in variants if VARIANTS[name] is not None}
    times = race(fast, args.reps, args.warmup)
    if "loop/full/dense" in variants:
        times["loop/full/dense"] = race({"loop": lambda: run_variant("loop/full/dense", Z, Pi)}, args.loop_reps, 0)["loop"]
    mems = {name: in_child(name, args) for name in variants}
    e2e_runs = {variant: [] for variant in E2E_VARIANTS}
    for _ in range(args.e2e_reps):                                   # alternate the two, as for the times
        for variant, task in E2E_VARIANTS.items():
            e2e_runs[variant].append(in_child(task, args))
    load.end()
    m, size = int(Z.shape[0]), f"{args.size}x{args.size}"
    rows = []
    for name in variants:
        row = dict(task="one layer", variant=name, m=m, C=args.channels, size=size, k=10, dtype="float32", data=source,
                   **spread_fields("time_ms", times[name]), runs=len(times[name].times), peak_mib=mems[name]["peak_mib"],
                   peak_reset=mems[name]["peak_reset"], stored_mib=mems[name]["stored_bytes"] / 2 ** 20)
        if name == "batched/half/woodbury":
            row.update(target_time_ms=TARGET_LAYER_MS, target_met=times[name].median <= TARGET_LAYER_MS)
        rows.append(row)
    e2e_spreads = {}
    for variant, e2e in e2e_runs.items():
        e2e_time, e2e_peak = Spread.of(1e3 * r["seconds"] for r in e2e), Spread.of(r["peak_mib"] for r in e2e)
        e2e_spreads[variant] = (e2e_time, e2e_peak)
        last = e2e[-1]
        rows.append(dict(task="TI-MNIST construction", variant=variant, m=m, C=args.e2e_channels,
                         kernel=f"{args.kernel}x{args.kernel}", layers=last["layers"], size=size, k=10, dtype="float32",
                         data=source, **spread_fields("time_ms", e2e_time), runs=len(e2e), **spread_fields("peak_mib", e2e_peak),
                         peak_reset=all(r["peak_reset"] for r in e2e),
                         stored_mib=last["stored_bytes"] / 2 ** 20, target_peak_mib=TARGET_E2E_MIB,
                         target_met=e2e_peak.median <= TARGET_E2E_MIB, delta_r_first_last=last["delta_r"]))
    print(f"one layer, m = {m}, C = {args.channels}, {size}, k = 10, float32 ({source}); {machine()}; "
          f"median (min–max) of {args.reps} alternating runs (the loop: {args.loop_reps}); {load.summary()}")
    print(f"{'variant':<24} {'time (ms)':>22} {'peak (MiB)':>11} {'stored (MiB)':>13}")
    for r in rows[:len(variants)]:
        print(f"{r['variant']:<24} {format_spread(times[r['variant']], 1):>22} {r['peak_mib']:11.1f} {r['stored_mib']:13.1f}")
    for r in rows[len(variants):]:
        e2e_time, e2e_peak = e2e_spreads[r["variant"]]
        print(f"TI-MNIST ({r['variant']}), m = {m}, C = {r['C']}, {r['kernel']} kernels, L = {r['layers']}, "
              f"{args.e2e_reps} fresh processes: {format_spread(e2e_time.scaled(1e-3), 1)} s, "
              f"peak {format_spread(e2e_peak, 0)} MiB (stored operators {r['stored_mib']:.0f} MiB), "
              f"ΔR_circ {r['delta_r_first_last'][0]:.3f} → {r['delta_r_first_last'][1]:.3f}")
    layer = next(r for r in rows if r.get('target_time_ms'))
    print(f"targets (issue 14): one layer (batched/half/woodbury) ≤ {TARGET_LAYER_MS:g} ms: "
          f"{'met' if layer['target_met'] else 'NOT met'} ({layer['time_ms']:.1f} ms); TI-MNIST peak ≤ {TARGET_E2E_MIB / 1024:g} GiB: "
          + "; ".join(f"{r['variant']} {'met' if r['target_met'] else 'NOT met'} ({r['peak_mib'] / 1024:.2f} GiB)"
                      for r in rows[len(variants):]))
    if load.loaded:
        print(load.warning())
    write_record("bench_spectral.py", args, argv, rows, load, **({"note": args.note} if args.note else {}))

if __name__ == "__main__":
    main()
