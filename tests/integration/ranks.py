"""What the tests that start real DDP ranks share: the environment of a fresh launch, one
torch thread for the single-process reference, and the molecules the scoring tests use."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).parents[2]
#: Unparsable SMILES, an empty SMILES cell and a duplicate id: error rows among the good.
BAD_ROWS = ["bad_0,C1CC(", "bad_1,", "bad_2,not_a_smiles", "sample_3_0,CCO"]


def ddp_env() -> dict[str, str]:
    """This environment without a parent launch's rank variables, one thread per rank."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for key in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "RANK", "MASTER_PORT"):
        env.pop(key, None)
    # Lightning gives each of N CPU ranks cpu_count / N threads; the references use one
    # thread too, since float32 sums in another order differ in the last bits
    env["OMP_NUM_THREADS"] = "1"
    return env


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one intra-op thread inside the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def write_scoring_molecules(path: Path) -> int:
    """260 real molecules (the FreeSolv sample four times, with new ids) and :data:`BAD_ROWS`
    after the second copy, as an ``id,smiles`` CSV; returns the record count."""
    sample = pd.read_csv(ROOT / "data" / "freesolv_sample.csv")
    lines = ["id,smiles"]
    for copy in range(4):
        lines += [f"sample_{i}_{copy},{smiles}" for i, smiles in enumerate(sample["smiles"])]
        if copy == 1:
            lines += BAD_ROWS
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1
