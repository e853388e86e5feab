"""redunet_book.distributed on the gloo backend: 2 and 3 processes on 127.0.0.1 against one process on the concatenated data.

Every multi-process test goes through `distributed.launch` (spawned processes, a free port, a time limit: a hung
collective fails the test instead of hanging it). The workers that only the tests need are defined here; spawned
processes import this file by name (multiprocessing passes them the parent's sys.path).
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from redunet_book import distributed as D
from redunet_book import rate, spectral, vector, vmcr2

TIMEOUT = 120.0          # seconds for one multi-process run (it takes a few on 2 cores)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reference():
    "`sharded_example` in this process, with no process group: one process on all the data."
    assert not dist.is_initialized()
    return D.sharded_example(0, 1)


@pytest.mark.parametrize("world_size", [2, 3])
def test_sharded_equals_one_process(world_size, reference):
    "Values, gradients (hard and soft memberships, in Z and in the logits), V-MCR², four constructions: one process's, to 1e-10."
    runs = D.launch(D.sharded_example, world_size, timeout=TIMEOUT)
    gaps = D.example_gaps(runs, reference)
    assert {k: v for k, v in gaps.items() if v > 1e-10} == {}, gaps
    assert gaps["identical"] == 0.0                                  # replicated results: bit for bit the same on every rank
    sizes = [len(r["grad"]) for r in runs]
    assert sum(sizes) == 47 and len(set(sizes)) > 1                  # uneven shards
    labels = D.example_data()["labels"]
    first = labels[D._demo_shard(47, 0, world_size)]
    assert not (first == 3).any()                                    # class 3 is missing from rank 0's shard
    for r in runs:                                                   # each rank keeps its own shard's features
        assert r["plain"]["features"].shape == (len(r["grad"]), 6)
        assert len(r["spectral"]["features"]) == len(r["grad"])


def test_without_process_group_is_one_process():
    "No process group: the module's functions are the one-process functions (same values, same gradients)."
    assert not dist.is_initialized() and D.group_size() == 1
    d = D.example_data()
    Z, y = d["Z"], d["labels"]
    assert torch.equal(torch.stack(list(D.rate_terms(Z, y, 0.5))), torch.stack(list(rate.rate_terms(Z, y, 0.5))))
    assert torch.equal(D.rate_reduction(Z, y, 0.5), rate.rate_reduction(Z, y, 0.5))
    assert torch.equal(D.coding_rate(Z, 0.5), rate.coding_rate(Z, 0.5))
    assert torch.equal(D.class_coding_rate(Z, y, 0.5), rate.class_coding_rate(Z, y, 0.5))
    assert torch.equal(D.vmcr2_terms(Z, y, d["Gamma"], d["A"], 0.5).objective,
                       vmcr2.vmcr2_terms(Z, y, d["Gamma"], d["A"], 0.5).objective)
    x = torch.ones(3, requires_grad=True)
    assert D.sum_over_ranks(x) is x
    st = D.class_statistics(Z, y)
    Pi = torch.nn.functional.one_hot(y).double()
    torch.testing.assert_close(st.class_grams, torch.einsum("ij,ia,ib->jab", Pi, Z, Z))
    assert st.m == 47 and torch.equal(st.counts, Pi.sum(0))
    a, b = vector.ReduNet(2, 0.5, 0.5, 10.0), vector.ReduNet(2, 0.5, 0.5, 10.0)
    assert D.fit(a, Z, y) is a
    b.fit(Z, y)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in b.state_dict() if k != "_extra_state")
    s = D.fit(spectral.SpectralReduNet(1, 0.5, 0.5, 10.0), d["signals"], y)
    assert torch.equal(s.history, spectral.SpectralReduNet(1, 0.5, 0.5, 10.0).fit(d["signals"], y).history)


def test_ddp_loss_scaling():
    "Under DDP, −N·ΔR on each rank gives the one-process gradient of −ΔR on all the data; without N, half of it (N = 2)."
    runs = D.launch(_ddp_both_ways, 2, timeout=TIMEOUT)
    one = D.single_process_example(3)
    for r in runs:
        for got, unscaled, want in zip(r["scaled"]["first_grads"], r["unscaled"], one["first_grads"]):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(unscaled, want / 2, rtol=1e-10, atol=1e-12)
        for got, want in zip(r["scaled"]["params"], one["params"]):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        assert r["scaled"]["delta_r"] == runs[0]["scaled"]["delta_r"]


def _ddp_both_ways(rank, world_size):
    "The worked example (3 steps), and the first step's DDP gradients without the factor N."
    out = {"scaled": D.ddp_example(rank, world_size, 3)}
    X, y = D._demo_data(90)
    part = D._demo_shard(90, rank, world_size)
    model = torch.nn.parallel.DistributedDataParallel(D._demo_featurizer())
    (-D.rate_reduction(model(X[part]), y[part], 0.5, num_classes=3)).backward()
    out["unscaled"] = [p.grad for p in model.parameters()]
    return out


def test_bad_input_on_one_rank_stops_every_rank():
    "A rank whose input fails raises its own error; the others raise a ValueError naming it (no rank waits in the collective)."
    runs = D.launch(_bad_on_one_rank, 2, timeout=TIMEOUT)
    (t0, m0), (t1, m1) = runs[0]["float labels"], runs[1]["float labels"]
    assert t1 == "TypeError" and "membership" in m1
    assert t0 == "ValueError" and "rank(s) [1]" in m0
    for case in ("feature sizes", "soft widths", "empty everywhere", "empty shard in fit", "V-MCR² dictionary", "eps_sq"):
        assert {r[case][0] for r in runs} == {"ValueError"}, (case, runs)
    assert "feature shape" in runs[0]["feature sizes"][1] and "columns" in runs[0]["soft widths"][1]
    assert "Gamma" in runs[1]["V-MCR² dictionary"][1] and "rank(s) [1]" in runs[0]["V-MCR² dictionary"][1]
    assert "eps_sq" in runs[0]["eps_sq"][1] and "rank(s) [0]" in runs[1]["eps_sq"][1]


def _bad_on_one_rank(rank, world_size):
    "Each case: (exception type, message) on this rank; the cases in sequence show that no rank was left waiting."
    d = D.example_data()
    Z = d["Z"][D._demo_shard(47, rank, world_size)]
    y = torch.zeros(len(Z), dtype=torch.int64)
    cases = {
        "float labels": lambda: D.rate_reduction(Z, y.double() if rank == 1 else y, 0.5),
        "feature sizes": lambda: D.rate_reduction(Z[:, :5] if rank == 1 else Z, y, 0.5),
        "soft widths": lambda: D.rate_reduction(Z, torch.full((len(Z), 2 + rank), 1 / (2 + rank), dtype=Z.dtype), 0.5),
        "empty everywhere": lambda: D.rate_reduction(Z[:0], y[:0], 0.5),
        "empty shard in fit": lambda: D.fit(vector.ReduNet(1, 0.5, 0.5, 10.0), Z[:0] if rank == 0 else Z, y[:0] if rank == 0 else y),
        "V-MCR² dictionary": lambda: D.vmcr2_terms(Z, y, d["Gamma"][:3] if rank == 1 else d["Gamma"], d["A"], 0.5),
        "eps_sq": lambda: D.rate_reduction(Z, y, 0.0 if rank == 0 else 0.5),
    }
    out = {}
    for name, call in cases.items():
        try:
            call()
            out[name] = ("no error", "")
        except (TypeError, ValueError) as err:
            out[name] = (type(err).__name__, str(err))
    return out


def test_empty_shard_contributes_nothing():
    "A rank with no samples (m_r = 0) is allowed in the rates: the union's values and the other rank's gradient rows."
    runs = D.launch(_one_empty_shard, 2, timeout=TIMEOUT)
    d = D.example_data()
    Z = d["Z"].clone().requires_grad_()
    want = rate.rate_reduction(Z, d["labels"], 0.5)
    want.backward()
    for value, grad in runs:
        torch.testing.assert_close(value, want.detach(), rtol=1e-12, atol=1e-12)
    assert runs[0][1].shape == (0, 6)
    torch.testing.assert_close(runs[1][1], Z.grad, rtol=1e-10, atol=1e-12)


def _one_empty_shard(rank, world_size):
    "Rank 0 holds no sample, rank 1 all of them."
    d = D.example_data()
    Z = (d["Z"][:0] if rank == 0 else d["Z"]).clone().requires_grad_()
    value = D.rate_reduction(Z, d["labels"][:0] if rank == 0 else d["labels"], 0.5, num_classes=4)
    value.backward()
    return value.detach(), Z.grad if Z.grad is not None else torch.zeros(0, 6, dtype=Z.dtype)


def test_hung_collective_fails_in_time():
    "A collective that one rank never joins fails the run within the time limit (the processes are killed)."
    t0 = time.monotonic()
    with pytest.raises((RuntimeError, TimeoutError)):
        D.launch(_hang, 2, timeout=4.0)
    assert time.monotonic() - t0 < 30


def _hang(rank, world_size):
    "Rank 0 waits in an all-reduce that rank 1 never calls."
    if rank == 0:
        dist.all_reduce(torch.ones(1))
    else:
        time.sleep(60)


def _commands():
    "The README's torchrun command and `python -m` (spawning its own processes)."
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    return {"torchrun": [torchrun, "--standalone", "--nproc_per_node=2", "-m", "redunet_book.distributed", "--steps", "2"],
            "python -m": [sys.executable, "-m", "redunet_book.distributed", "--steps", "2"]}


@pytest.mark.parametrize("how", ["torchrun", "python -m"])
def test_command_line(how):
    "`torchrun --standalone --nproc_per_node=2 -m redunet_book.distributed` (the README's command) and `python -m` run the example."
    cmd = _commands()[how]
    if not Path(cmd[0]).exists():
        pytest.skip(f"{cmd[0]} not found")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on 2 ranks" in done.stdout and "largest parameter difference after 2 steps" in done.stdout


def test_layer_from_operators_is_from_features():
    "The refactor of chapter 04: `ReduLayer.from_operators` with the operators of Z is `ReduLayer.from_features(Z)`."
    from redunet_book.operators import gradient_operators
    d = D.example_data()
    Z, y = d["Z"], d["labels"]
    Pi = torch.nn.functional.one_hot(y).double()
    a = vector.ReduLayer.from_features(Z, Pi, 0.5, 0.5, 10.0, "relu")
    b = vector.ReduLayer.from_operators(gradient_operators(Z, y, 0.5), 6 / (47 * 0.5), 0.5, 10.0, "relu")
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))
    assert torch.equal(a(Z), b(Z))
