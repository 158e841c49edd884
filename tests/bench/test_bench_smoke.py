"""Smoke tests of the benchmark scripts in bench/ (--quick: a tiny model, a couple of steps).

They check that the scripts run, print positive figures and write valid results JSON (to a
temporary path, never bench/results.json); the figures themselves mean nothing here.
"""

import json
import math
from pathlib import Path

import pytest
import torch

from .conftest import load_bench

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _entries(path):
    data = json.loads(path.read_text())  # valid JSON
    assert data["format"] == "ifnd-bench-1"
    return data["entries"]


def _positive(values):
    return len(values) > 0 and all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values)


def test_step_throughput_quick_ours(tmp_path):
    out = tmp_path / "results.json"
    entry = load_bench("step_throughput").main(["--quick", "--impl", "ours", "--threads", "1", "--out", str(out)])
    res = entry["results"]["tiny"]
    assert _positive(res["ours"]) and res["ours_median"] > 0
    assert _positive(list(res["breakdown"]["ours"].values()))
    (saved,) = _entries(out)
    assert saved["benchmark"] == "step_throughput" and saved["results"]["tiny"]["ours"] == res["ours"]
    assert saved["machine"]["cpu_cores"] >= 1 and saved["machine"]["torch"] == torch.__version__
    assert saved["command"].startswith("python bench/step_throughput.py --quick")
    assert "Training-step throughput" in (tmp_path / "RESULTS.md").read_text()


def test_step_throughput_quick_peer(tmp_path):
    pytest.importorskip("lightly")
    out = tmp_path / "results.json"
    entry = load_bench("step_throughput").main(["--quick", "--impl", "peer", "--threads", "1",
                                           "--breakdown-steps", "0", "--out", str(out)])
    assert _positive(entry["results"]["tiny"]["peer"])
    assert _entries(out)[0]["results"]["tiny"]["peer"] == entry["results"]["tiny"]["peer"]


def test_mfu_quick_and_readme_section(tmp_path, capsys):
    out = tmp_path / "results.json"
    entry = load_bench("mfu").main(["--quick", "--threads", "1", "--out", str(out)])
    res = entry["results"]["tiny"]
    for key in ("flops_per_image", "model_flops_per_image", "images_per_second",
                "achieved_flops_per_second", "peak_flops_per_second", "mfu_percent"):
        assert _positive([res[key]]), key
    assert res["mfu_percent"] < 100
    (saved,) = _entries(out)
    assert saved["benchmark"] == "mfu" and saved["results"]["tiny"]["mfu_percent"] == pytest.approx(res["mfu_percent"])
    text = load_bench("readme_section").main(["--results", str(out), "--include-quick"])
    assert text.startswith("## Performance") and "FLOPs utilisation" in text
    assert "still to be measured" in (tmp_path / "RESULTS.md").read_text()  # no GPU entry


def test_busy_check_sees_a_spinning_process_and_merge_keeps_entries(tmp_path):
    """The busy check measures other processes' CPU use now (not the lagging load average);
    `benchlib.py merge` appends another results file's entries unchanged."""
    import subprocess
    import sys

    B = load_bench("benchlib")
    quiet = B.other_cpu_use(0.3)
    assert quiet is None or 0.0 <= quiet <= (torch.get_num_threads() or 1) + 64
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        used = B.other_cpu_use(1.0)
    finally:
        spin.kill()
        spin.wait()
    if used is not None:  # Linux: a spinning process keeps about one core busy
        assert used >= 0.6

    src, dst = tmp_path / "gpu.json", tmp_path / "results.json"
    entry = {"benchmark": "gpu", "date": "2026-01-01T00:00:00+00:00", "command": "python bench/gpu.py",
             "machine": {"loadavg_at_end": [9.0], "gpu": "a card"}, "settings": {}, "results": {}}
    B.append_entry(src, entry, markdown=False)
    B.merge_main([str(src), "--out", str(dst)])
    merged = _entries(dst)
    assert len(merged) == 1 and merged[0]["machine"] == entry["machine"]
    assert (tmp_path / "RESULTS.md").is_file()
