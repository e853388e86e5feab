"""Benchmark the spectral ReduNet (redunet_book.spectral): one 2D layer, four implementations, and the
paper's translation-invariant MNIST construction end to end.

Usage:  python benchmarks/bench_spectral.py [--reps 5] [--threads 2] [--out results/bench_spectral.json]

Part 1, one layer (Algorithm 3, lines 2-23, with the true labels) built from m = 100 MNIST test
images (10 per class, as `make data` provided them; random non-negative features if MNIST is not
found) lifted by C = 35 random 9x9 filters and a soft threshold, 28x28, k = 10, float32:

- loop / full / dense: the literal Algorithm 3, a Python loop over all H*W frequencies with a dense
  `torch.linalg.inv` for E(p) and each C^j(p), then a loop over frequencies for the update;
- batched / full / dense: `SpectralReduNet` machinery over the full `fftn` spectrum, dense operators;
- batched / half / dense: the `rfftn` half spectrum (weights 2 for frequencies whose twin is dropped);
- batched / half / Woodbury: the default (`form='auto'`): classes with fewer samples than channels
  store and apply a low-rank factor.

Every variant's output features are checked against the default's (float32 tolerance) first.
Times are medians of --reps runs (alternating), peak memory is the growth of the peak resident set
of a fresh child process running the variant once (its VmHWM, reset after loading the data and a
small warm-up run, minus its resident set at that point), and "stored" counts the bytes of the
layer's operator tensors.

Part 2, the paper's translation-invariant MNIST configuration (§5 / Appendix E.3: m = 100, 10 per
class, C = 75 random 9x9 kernels, L = 25 layers, eta = 0.5, eps^2 = 0.1): construction time and
peak memory (fresh child process), stored bytes, final Delta R_circ.
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
from _bench import common_arguments, load_average, machine, race, write_record

from redunet_book.core import membership_matrix, normalize
from redunet_book.lifting import Lifting2d
from redunet_book.spectral import (SpectralReduLayer, SpectralReduNet, from_spectral, spectral_operators,
                                   spectral_weights, to_spectral)

EPS_SQ, ETA, LAM = 0.1, 0.5, 100.0
VARIANTS = {"loop/full/dense": None, "batched/full/dense": (False, "dense"),
            "batched/half/dense": (True, "dense"), "batched/half/woodbury": (True, "auto")}


def data(channels: int, per_class: int = 10, seed: int = 0):
    "Lifted features (m, C, 28, 28) float32 and labels (m,): MNIST test images if available, else random."
    try:
        from redunet_book.data import balanced_split, load_mnist
        images, labels = load_mnist()
        idx, _ = balanced_split(labels, per_class, 0, seed=seed)
        X, y, source = images[idx].float() / 255, labels[idx], "MNIST test split"
    except (FileNotFoundError, ImportError, ValueError):
        g = torch.Generator().manual_seed(seed)
        X, y, source = torch.rand(10 * per_class, 28, 28, generator=g), torch.arange(10).repeat_interleave(per_class), "random"
    lift = Lifting2d(channels, 9, threshold=0.0, normalize_output=True, seed=seed)
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


def end_to_end(Z, y):
    "The paper's TI-MNIST construction: L = 25 layers on (m, C, 28, 28) features."
    net = SpectralReduNet(25, eta=ETA, eps_sq=EPS_SQ, lam=LAM).fit(Z, y)
    stored = sum(b.numel() * b.element_size() for n_, b in net.named_buffers() if n_.endswith((".E", ".C")))
    return net, stored


def child(task: str, threads: int) -> None:
    "Run one task once in this (fresh) process and print its time and memory as JSON."
    if threads:
        torch.set_num_threads(threads)
    C = 75 if task == "end_to_end" else 35
    Z, y, _ = data(C)
    Pi = membership_matrix(y, Z.shape[0], dtype=Z.dtype)
    small = Z[:, :4, :8, :8].contiguous()                            # page in the code paths (FFT, LAPACK) first,
    run_variant("loop/full/dense" if task == "loop/full/dense" else "batched/half/woodbury", small,
                Pi)                                                  # so that the peak measures the task's own memory
    base = rss_mib()
    reset_peak()                                                     # the peak of the task alone, not of the loading
    t0 = time.perf_counter()
    if task == "end_to_end":
        net, stored = end_to_end(Z, y)
        extra = dict(delta_r=[float(net.history[0, 2]), float(net.history[-1, 2])], layers=len(net.layers))
    else:
        _, stored = run_variant(task, Z, Pi)
        extra = {}
    seconds = time.perf_counter() - t0
    print(json.dumps(dict(seconds=seconds, peak_mib=peak_mib() - base, stored_bytes=stored, **extra)))


def in_child(task: str, threads: int) -> dict:
    "Run `task` in a fresh Python process (so that its peak memory is its own)."
    out = subprocess.run([sys.executable, __file__, "--child", task, "--threads", str(threads)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(p, "results/bench_spectral.json")
    p.set_defaults(reps=5, warmup=1, threads=2)
    p.add_argument("--loop-reps", type=int, default=3, help="timed runs of the (slow) per-frequency loop")
    p.add_argument("--note", default="", help="free text stored in the record (e.g. how the cores were pinned)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args.threads)
    if args.threads:
        torch.set_num_threads(args.threads)
    Z, y, source = data(35)
    Pi = membership_matrix(y, Z.shape[0], dtype=Z.dtype)
    ref = run_variant("batched/half/woodbury", Z, Pi)[0]
    for name in VARIANTS:                                            # all variants agree before timing
        out = run_variant(name, Z, Pi)[0]
        err = float((out - ref).abs().max())
        assert err < 1e-4, f"{name} differs from the default by {err:.2e}"
    fast = {name: (lambda name=name: run_variant(name, Z, Pi)) for name in VARIANTS if VARIANTS[name] is not None}
    times = race(fast, args.reps, args.warmup)
    times["loop/full/dense"] = race({"loop": lambda: run_variant("loop/full/dense", Z, Pi)}, args.loop_reps, 0)["loop"]
    rows = []
    print(f"one layer, m = {Z.shape[0]}, C = 35, 28x28, k = 10, float32 ({source}); {machine()}; load {load_average():.2f}")
    print(f"{'variant':<24} {'time (ms)':>10} {'peak (MiB)':>11} {'stored (MiB)':>13}")
    for name in VARIANTS:
        mem = in_child(name, args.threads)
        row = dict(task="one layer", variant=name, m=int(Z.shape[0]), C=35, size="28x28", k=10, dtype="float32",
                   data=source, time_ms=times[name], peak_mib=mem["peak_mib"], stored_mib=mem["stored_bytes"] / 2 ** 20)
        rows.append(row)
        print(f"{name:<24} {row['time_ms']:10.1f} {row['peak_mib']:11.1f} {row['stored_mib']:13.1f}")
    e2e = in_child("end_to_end", args.threads)
    rows.append(dict(task="TI-MNIST construction", variant="batched/half/woodbury", m=100, C=75, kernel="9x9", layers=e2e["layers"],
                     size="28x28", k=10, dtype="float32", data=source, time_ms=1e3 * e2e["seconds"], peak_mib=e2e["peak_mib"],
                     stored_mib=e2e["stored_bytes"] / 2 ** 20, delta_r_first_last=e2e["delta_r"]))
    print(f"TI-MNIST, C = 75, 9x9 kernels, L = {e2e['layers']}: {e2e['seconds']:.1f} s, peak {e2e['peak_mib']:.0f} MiB, "
          f"stored {e2e['stored_bytes'] / 2 ** 20:.0f} MiB, ΔR_circ {e2e['delta_r'][0]:.3f} → {e2e['delta_r'][1]:.3f}")
    write_record("bench_spectral.py", args, argv, rows)
    if args.out and args.note:
        record = json.loads(Path(args.out).read_text())
        record["note"] = args.note
        Path(args.out).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
