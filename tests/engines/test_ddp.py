"""Two gloo processes x batch 2 under DistributedDataParallel match one process x batch 4 (same global batch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from ssl_helpers import ddp_config, make_trainer, record_losses, student_state

WORKER = Path(__file__).with_name("ddp_worker.py")
REPO = Path(__file__).parents[2]


def test_two_process_gloo_matches_single_process(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    init_file = tmp_path / "dist_init"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), "2", str(init_file), str(tmp_path / f"rank{rank}.pt")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for rank in range(2)
    ]
    logs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]

    single = make_trainer(batch_size=4, max_epochs=1, config=ddp_config())
    single_losses = record_losses(single)
    single.run()

    ddp_losses = [(a + b) / 2 for a, b in zip(ranks[0]["losses"], ranks[1]["losses"])]
    assert len(ddp_losses) == len(single_losses) == 3
    assert torch.allclose(torch.tensor(ddp_losses), torch.tensor(single_losses), atol=1e-5, rtol=1e-5)
    reference = student_state(single)
    for key, value in ranks[0]["student"].items():
        assert torch.equal(value, ranks[1]["student"][key]), f"ranks diverged at {key}"
        assert torch.allclose(value, reference[key], atol=1e-5, rtol=1e-4), key


def test_nan_on_one_rank_stops_every_rank_with_the_same_message(tmp_path) -> None:
    """Rank 1 sees a NaN loss at iteration 2: both ranks stop there (no hang), with one message, before the step;
    the checkpoint of iteration 1 (written by rank 0) is the last one and loads."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), "2", str(tmp_path / "dist_init"), str(tmp_path / f"rank{rank}.txt"),
             "nan"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        for rank in range(2)
    ]
    logs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in procs]  # a hang would time out here
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)[-4000:]
    results = [(tmp_path / f"rank{r}.txt").read_text().split("\n", 1) for r in range(2)]
    assert results[0] == results[1], results
    iteration, message = results[0]
    assert iteration == "2" and "Non-finite loss at iteration 2" in message and "rank(s) [1]" in message
    assert "Non-finite loss on this rank at iteration 2" in logs[1]  # the rank that saw it logs its values
    saved = sorted(p.name for p in (tmp_path / "ckpt").glob("checkpoint_*.pt"))
    assert saved == ["checkpoint_00000001.pt"]
    assert torch.load(tmp_path / "ckpt" / saved[0], weights_only=True)["iteration"] == 1
