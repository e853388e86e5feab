"""The benchmark scripts of benchmarks/ run end to end at tiny sizes and write records with spreads and load fields.

No timing is asserted here (speed is measured by the scripts themselves, on a quiet machine): these
tests only check that each script runs and that its JSON record has the min/median/max of every
timed quantity and the load of the machine.
"""
import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# script, tiny arguments, the keys that each row reports as median with _min and _max
CASES = {
    "bench_rate": (["--m", "60", "--n", "8", "--ks", "3", "--threads", "1"],
                   ["mcr2_ms", "ours_ms", "yardstick_ours_ms", "gram_ms"], ["speedup", "ours_over_gram"]),
    "bench_operators": (["--m", "60", "--n", "8", "--ks", "3", "--threads", "1"], ["baseline_ms", "ours_ms"], ["speedup"]),
    "bench_circulant": (["--m", "2", "--channels", "2", "--scale", "8", "--threads", "1"],
                        ["fft_ms", "direct_ms", "dense_ms"], []),
    "bench_vmcr2": (["--sizes", "24x40x2", "--threads", "1"],
                    ["literal_ms", "fast_ms", "vmcr2_ms", "vmcr2_dense_ms", "latch_ms"],
                    ["speedup_vs_literal", "speedup_vs_fast", "dense_vs_literal"]),
    "bench_vector": (["--layers", "2", "--m", "40", "--n", "8", "--k", "2", "--threads", "1"],
                     ["seconds", "seconds_per_layer"], []),
    "bench_distributed": (["--sizes", "60", "120", "--n", "6", "--k", "3", "--layers", "1", "--warmup", "0"],
                          ["seconds_per_layer", "allreduce_ms", "plain_seconds_per_layer"], []),
    "bench_spectral": (["--data", "random", "--per-class", "1", "--channels", "2", "--e2e-channels", "2", "--layers", "1",
                        "--size", "6", "--kernel", "3", "--variants", "batched/half/woodbury", "--e2e-reps", "1",
                        "--threads", "1"],
                       ["time_ms"], []),
}
LOAD_FIELDS = ("load_average", "load_average_start", "load_average_end", "other_cores", "cores", "torch_threads", "loaded")


@pytest.fixture(scope="module")
def scripts():
    "The benchmark modules, imported as the scripts import each other (benchmarks/ on sys.path)."
    pytest.importorskip("mcr2", reason="the bench extra (mcr2) is not installed")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield {name: importlib.import_module(name) for name in CASES}
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("name", list(CASES))
def test_benchmark_record(scripts, name, tmp_path, capsys):
    argv, spreads, ratios = CASES[name]
    out = tmp_path / f"{name}.json"
    scripts[name].main([*argv, "--reps", "2", "--out", str(out)])
    table = capsys.readouterr().out
    assert "load average" in table and "at the start" in table
    record = json.loads(out.read_text())
    assert all(key in record for key in LOAD_FIELDS), sorted(record)
    assert isinstance(record["loaded"], bool) and record["cores"] >= 1
    assert ("WARNING: the machine was loaded" in table) == record["loaded"]
    assert record["rows"]
    for row in record["rows"]:
        for key in spreads + ratios:
            assert {key, f"{key}_min", f"{key}_max"} <= set(row), (key, sorted(row))
        for key in spreads:                                  # times: min <= median <= max
            if row[key] is not None:
                assert row[f"{key}_min"] <= row[key] <= row[f"{key}_max"], (key, row)


    if name == "bench_rate":                                 # the ours/gram targets, reported
        rows = {(r["k"], r["pass"]): r for r in record["rows"]}
        assert rows[3, "forward+backward"]["target_met"] is None  # no target at k = 3
    if name == "bench_spectral":                             # the TI-MNIST row: peak memory spread and target
        e2e = record["rows"][-1]
        assert e2e["task"] == "TI-MNIST construction" and e2e["layers"] == 1
        assert {"peak_mib", "peak_mib_min", "peak_mib_max", "target_peak_mib", "target_met"} <= set(e2e)
        assert record["rows"][0]["target_time_ms"] == 60.0


def test_rate_targets(scripts):
    "The issue's targets for ours/gram, forward+backward: ≤ 8 at k = 10, ≤ 5 at k = 100."
    assert scripts["bench_rate"].TARGETS == {("forward+backward", 10): 8.0, ("forward+backward", 100): 5.0}
