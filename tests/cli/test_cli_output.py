"""Standard output as a user pipes it (#16): streamed tables, a reader that stops early,
formats that need a file, progress lines in logs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from scisuite.cli import main
from scisuite.core.table_stream import stream_rows

SCI = [sys.executable, "-m", "scisuite"]
DATA = Path(__file__).parents[2] / "data"


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path) -> None:
    smiles = tmp_path / "many.smi"
    smiles.write_text("".join(f"{'C' * (1 + i % 9)}O\n" for i in range(2000)))
    sci = subprocess.Popen(
        [*SCI, "predict", "--domain", "molecule", str(smiles), "--batch-size", "16"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert sci.stdout is not None and sci.stderr is not None
    first = sci.stdout.readline()  # a header arrives before scoring ends: rows are streamed
    sci.stdout.readline()
    sci.stdout.close()  # what `| head -2` does
    err = sci.stderr.read().decode()
    assert sci.wait(timeout=300) == 141
    assert first.startswith(b"id,smiles,") and "Traceback" not in err and "Broken" not in err


def test_parquet_without_an_output_file_is_refused(capsys) -> None:
    code = main(["predict", "--domain", "molecule", str(DATA / "molecules_example.csv"),
                 "--format", "parquet"])  # fmt: skip
    assert code == 2
    assert "--format parquet writes a file" in capsys.readouterr().err


def test_jsonl_and_tsv_go_to_stdout(capsys) -> None:
    path = str(DATA / "molecules_example.csv")
    assert main(["predict", "--domain", "molecule", path, "--format", "jsonl", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in lines]
    expected = pd.read_csv(DATA / "molecules_example.csv").fillna("")  # one empty SMILES
    assert [r["smiles"] for r in rows] == list(expected["smiles"])
    assert main(["predict", "--domain", "molecule", path, "--format", "tsv", "--quiet"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), sep="\t")
    assert list(table["smiles"].fillna("")) == list(expected["smiles"])


def test_stream_rows_writes_a_header_for_no_rows_and_keeps_column_order() -> None:
    out = io.StringIO()
    assert stream_rows([], out, ["id", "x"]) == 0
    assert out.getvalue() == "id,x\n"
    out = io.StringIO()
    rows = [{"x": i, "id": f"r{i}", "extra": 0} for i in range(5)]
    assert stream_rows(rows, out, ["id", "x"], chunk_rows=2) == 5
    assert out.getvalue().splitlines() == ["id,x", *(f"r{i},{i}" for i in range(5))]


def test_training_logs_one_line_per_epoch_when_stderr_is_not_a_terminal(tmp_path, capsys) -> None:
    code = main(
        [
            "train", "--domain", "molecule", "--data", str(DATA / "freesolv_sample.csv"),
            "--target-columns", "expt", "--split", "random", "--epochs", "2",
            "--batch-size", "16", "--set", "backbone.d_model=16",
            "--set", "backbone.num_layers=1", "-o", str(tmp_path / "m"),
        ]
    )  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    epochs = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"], err
    assert all("val_loss" in line and "ETA" in line for line in epochs)
    assert "\r" not in err  # no progress bar redraws in a log


def test_training_flags_out_of_range_are_usage_errors(capsys) -> None:
    base = ["train", "--domain", "molecule", "--dataset", "freesolv", "-o", "never"]
    for flag, value in [("--epochs", "0"), ("--lr", "0"), ("--lr", "nan"), ("--patience", "-1")]:
        assert main([*base, flag, value]) == 2
        assert flag in capsys.readouterr().err
    assert main(["data", "generate", "mesh", "cylinder-flow", "-o", "never", "--workers", "0"]) == 2
