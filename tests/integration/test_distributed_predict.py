"""Distributed prediction: 2 CPU ranks write the same table as one process (rows, order,
values), with bad records and an input size that does not divide by the number of ranks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))

sys.path.insert(0, str(Path(__file__).parent))

from ranks import ddp_env, one_thread  # noqa: E402
from toy_plugin import PLUGIN  # noqa: E402

from scisuite import api  # noqa: E402
from scisuite.core.checkpoint import CheckpointMeta, save_checkpoint  # noqa: E402
from scisuite.core.distributed_predict import MergeError, merge_parts, part_name  # noqa: E402
from scisuite.core.registry import PluginRegistry  # noqa: E402

WORKER = Path(__file__).parent / "ddp_worker.py"
REPO = Path(__file__).parents[2]
REGISTRY = PluginRegistry([PLUGIN], use_entry_points=False)

#: 11 records (odd), 3 of them bad: unparsable, empty, no heavy atom.
MOLECULES = """id,smiles
ethanol,CCO
bad,C1CC(C
phenol,c1ccccc1O
benzene,c1ccccc1
empty,
acetic,CC(=O)O
salt,CC(=O)[O-].[Na+]
noheavy,[H][H]
pyridine,c1ccncc1
caffeine,Cn1cnc2c1c(=O)n(C)c(=O)n2C
propanol,CCCO
"""


def _run(command: list[str]) -> None:
    done = subprocess.run(command, env=ddp_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


def test_two_ranks_write_what_one_process_writes_toy(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = PLUGIN.task.default_config()
    model = PLUGIN.task.build_model(config)
    meta = CheckpointMeta(PLUGIN.name, PLUGIN.schema_version, config.to_dict())
    checkpoint = save_checkpoint(tmp_path / "ckpt", model.state_dict(), meta)
    inputs = tmp_path / "in.ring"  # 9 records, 2 bad
    inputs.write_text("a,3,3\nb,7,7\nbroken line\nc,2,2\nd,12,12\ne,5,5\nf,9,9\ng,4,4\nh,6,6\n")
    with one_thread():
        reference = api.load(checkpoint, device="cpu", registry=REGISTRY).predict_file(
            inputs, tmp_path / "single.csv", batch_size=2
        )
    out = tmp_path / "multi.csv"
    _run([sys.executable, str(WORKER), "predict", str(checkpoint), str(inputs), str(out), "2", "2"])
    assert out.read_bytes() == (tmp_path / "single.csv").read_bytes()
    for rank in (0, 1):  # every rank returns the same summary once the table exists
        summary = json.loads((tmp_path / f"summary{rank}.json").read_text())
        assert summary == {"rows": 9, "errors": 2, "exists": True}
    assert reference.rows == 9 and reference.errors == 2
    assert not (tmp_path / ".multi.csv.parts").exists(), "merged parts are removed"


@pytest.mark.slow
def test_sci_predict_on_two_ranks_matches_one_process_molecule(tmp_path: Path) -> None:
    inputs = tmp_path / "molecules.csv"
    inputs.write_text(MOLECULES)
    with one_thread():
        api.load("molecule", device="cpu").predict_file(
            inputs, tmp_path / "single.csv", batch_size=3
        )
    out = tmp_path / "multi.csv"
    command = [sys.executable, "-m", "scisuite", "predict", "--domain", "molecule", str(inputs)]
    command += ["-o", str(out), "--batch-size", "3", "--device", "cpu", "--quiet"]
    _run([*command, "--devices", "2", "--strategy", "ddp"])
    assert out.read_bytes() == (tmp_path / "single.csv").read_bytes()


def _write_part(folder: Path, rank: int, world: int, records: int, rows: list[int]) -> None:
    stem = part_name(rank, world)
    lines = [json.dumps([i, {"id": str(i), "status": "ok", "error": ""}]) for i in rows]
    (folder / f"{stem}.jsonl").write_text("".join(line + "\n" for line in lines))
    manifest = {"rank": rank, "world_size": world, "records": records, "rows": len(rows)}
    (folder / f"{stem}.json").write_text(json.dumps(manifest))


def test_merge_puts_records_in_input_order(tmp_path: Path) -> None:
    _write_part(tmp_path, 0, 2, 5, [0, 1, 4])
    _write_part(tmp_path, 1, 2, 5, [2, 3])
    out = tmp_path / "out.csv"
    assert merge_parts(tmp_path, 2, out, ["id", "status", "error"], None) == (5, 0)
    assert out.read_text().split()[1:] == [f"{i},ok," for i in range(5)]


@pytest.mark.parametrize(
    ("rank0", "rank1", "message"),
    [
        ([0, 1, 4], [1, 2, 3], "record 2 is repeated"),
        ([0, 1], [2, 3], "records 4 .. 4 are missing"),
        ([0, 4], [2, 3], "record 1 is missing"),
    ],
)
def test_merge_refuses_duplicated_or_missing_records(tmp_path, rank0, rank1, message) -> None:
    _write_part(tmp_path, 0, 2, 5, rank0)
    _write_part(tmp_path, 1, 2, 5, rank1)
    out = tmp_path / "out.csv"
    with pytest.raises(MergeError, match=message):
        merge_parts(tmp_path, 2, out, ["id", "status", "error"], None)
    assert not out.exists(), "no output from an incomplete merge"


def test_merge_refuses_a_missing_rank(tmp_path: Path) -> None:
    _write_part(tmp_path, 0, 2, 5, [0, 1, 4])
    with pytest.raises(MergeError, match="rank 1 wrote no part"):
        merge_parts(tmp_path, 2, tmp_path / "out.csv", ["id", "status", "error"], None)


def test_distributed_predict_refuses_stdin(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = PLUGIN.task.default_config()
    meta = CheckpointMeta(PLUGIN.name, PLUGIN.schema_version, config.to_dict())
    model = PLUGIN.task.build_model(config)
    predictor = api.load(
        save_checkpoint(tmp_path / "ckpt", model.state_dict(), meta), registry=REGISTRY
    )
    with pytest.raises(api.UnsupportedError, match="write the records to a file first"):
        api.predict_distributed(predictor, "-", tmp_path / "out.csv")
