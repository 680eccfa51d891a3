"""`sci predict` inputs and flags (#16 findings 1, 3, 4; build item 8): a missing path is an
error, never data; no output overwrites another; bad flags and bad bytes give messages, not
tracebacks; every record keeps its row."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pandas as pd
import pytest

from scisuite import api
from scisuite.cli import main
from scisuite.cli.predict import outputs_for


@pytest.fixture(scope="module")
def molecules() -> api.Predictor:
    return api.load("molecule", device="cpu")


@pytest.mark.parametrize(
    ("domain", "name"),
    [("protein", "proteins.fasta"), ("molecule", "CCO"), ("mesh", "flow.vtu")],
)
def test_missing_input_is_an_error_not_data(tmp_path, monkeypatch, capsys, domain, name) -> None:
    # In an empty folder `sci predict --domain protein proteins.fasta` predicted the sequence
    # PRKTEINSFASTA with status ok and exit 0; a molecule name became an invalid-SMILES row.
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "--domain", domain, name, "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"input file(s) '{name}' do not exist" in captured.err


def test_directory_input_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.fasta").mkdir()
    (tmp_path / "mols").mkdir()
    assert main(["predict", "--domain", "protein", "d.fasta", "--quiet"]) == 1
    assert "'d.fasta' is a directory" in capsys.readouterr().err
    assert main(["predict", "--domain", "molecule", "mols", "--quiet"]) == 1
    assert "'mols' is a directory; the molecule domain reads files" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--batch-size", "0", "argument --batch-size: must be >= 1, got 0"),
        ("--batch-size", "-3", "argument --batch-size: must be >= 1, got -3"),
        ("--batch-size", "many", "expected a whole number >= 1, got 'many'"),
        ("--num-workers", "-1", "argument --num-workers: must be >= 0, got -1"),
        ("--shard-size", "0", "argument --shard-size: must be >= 1, got 0"),
        ("--num-nodes", "0", "argument --num-nodes: must be >= 1, got 0"),
        ("--devices", "0", "argument --devices: expected a number >= 1, -1 or auto"),
        ("--seed", "-1", "argument --seed: must be from 0 to"),
    ],
)
def test_bad_numeric_flags_are_usage_errors(tmp_path, capsys, flag, value, message) -> None:
    # `--batch-size 0` exited 0 with 0 rows; `--shard-size 0` silently meant the default.
    path = tmp_path / "m.smi"
    path.write_text("CCO\n")
    argv = ["predict", "--domain", "molecule", str(path), flag, value, "-o", str(tmp_path / "p")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_non_finite_domain_float_is_a_usage_error(capsys) -> None:
    assert main(["train", "--domain", "mesh", "--noise", "nan"]) == 2
    assert "argument --noise: must be a finite number, got 'nan'" in capsys.readouterr().err


def test_outputs_of_inputs_with_the_same_name_do_not_collide() -> None:
    out = Path("p.csv")
    assert outputs_for(out, ["a/x.csv"]) == [out]
    assert outputs_for(out, ["a/x.csv", "b/y.csv", "-"]) == [
        Path("x.p.csv"),
        Path("y.p.csv"),
        Path("stdin.p.csv"),
    ]
    assert outputs_for(Path("o/p.csv"), ["a/x.csv", "b/x.csv", "c/y.sdf", "a/x.smi"]) == [
        Path("o/x.1.p.csv"),
        Path("o/x.2.p.csv"),
        Path("o/y.p.csv"),
        Path("o/x.4.p.csv"),
    ]


def test_same_file_names_keep_every_row(tmp_path, capsys) -> None:
    # `a/x.csv b/x.csv a/x.smi -o p.csv` reported 4 records and left 1 row (#16 finding 3).
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.csv").write_text("id,smiles\nm1,CCO\nm2,CCN\n")
    (tmp_path / "b" / "x.csv").write_text("id,smiles\nm3,c1ccccc1\n")
    (tmp_path / "a" / "x.smi").write_text("CC(=O)O m4\n")
    inputs = [str(tmp_path / p) for p in ("a/x.csv", "b/x.csv", "a/x.smi")]
    assert main(["predict", "--domain", "molecule", *inputs, "-o", str(tmp_path / "p.csv")]) == 0
    frames = [pd.read_csv(tmp_path / f"x.{n}.p.csv") for n in (1, 2, 3)]
    assert [list(frame["id"]) for frame in frames] == [["m1", "m2"], ["m3"], ["m4"]]
    assert "4 records, 4 ok, 0 with errors" in capsys.readouterr().err


@pytest.mark.parametrize("column", [[], ["--smiles-column", "CCO"]])
def test_bare_smiles_on_stdin_keep_the_first_molecule(monkeypatch, capsys, column) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"CCO\nc1ccccc1\nCC(=O)O\n")))
    assert main(["predict", "--domain", "molecule", "-", *column, "--quiet"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(frame["smiles"]) == ["CCO", "c1ccccc1", "CC(=O)O"]
    assert (frame["status"] == "ok").all()


def _truncated_table(tmp_path: Path) -> Path:
    text = "id,smiles\n" + "".join(f"m{i},{'C' * (1 + i % 9)}O\n" for i in range(400))
    data = gzip.compress(text.encode())
    path = tmp_path / "m.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def test_damaged_gzip_keeps_the_rows_before_it(tmp_path, capsys) -> None:
    # A truncated .csv.gz ended in an EOFError traceback and no rows at all.
    path = _truncated_table(tmp_path)
    out = tmp_path / "p.csv"
    assert main(["predict", "--domain", "molecule", str(path), "-o", str(out), "--quiet"]) == 0
    frame = pd.read_csv(out)
    ok = frame[frame["status"] == "ok"]
    assert len(ok) > 50 and list(ok["id"]) == [f"m{i}" for i in range(len(ok))]
    assert list(frame["status"]).count("error") == 1 and frame["status"].iloc[-1] == "error"
    assert "the gzip data ends early" in frame["error"].iloc[-1]
    argv = ["predict", "--domain", "molecule", str(path), "--on-error", "raise", "-o", str(out)]
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"m.csv.gz line {len(ok) + 2} (id 'm.csv.gz:{len(ok) + 2}')" in err
    assert "rerun with --on-error skip" in err and "Traceback" not in err


def test_latin1_byte_is_one_error_row(tmp_path, capsys) -> None:
    rows = [f"m{i},CCO,name {i}\n".encode() for i in range(30)]
    rows[19] = "m19,CCO,caf\u00e9\n".encode("latin-1")
    path = tmp_path / "export.csv"
    path.write_bytes(b"id,smiles,name\n" + b"".join(rows))
    assert main(["predict", "--domain", "molecule", str(path), "--quiet"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(frame["id"]) == [f"m{i}" for i in range(30)]
    assert list(frame.loc[frame["status"] == "error", "id"]) == ["m19"]
    assert "byte 0xE9" in frame["error"].iloc[19]


def test_python_strings_that_name_missing_files_are_errors(molecules, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="'mols.csv' does not exist"):
        molecules.predict("mols.csv")
    assert list(molecules.predict("CCO")["status"]) == ["ok"]  # a SMILES, not a file
    assert list(molecules.predict(["CCO", "CCN"])["status"]) == ["ok", "ok"]
    frame = molecules.predict(["mols.csv"])
    assert "looks like a molecule file name" in frame["error"].iloc[0]
    with pytest.raises(FileNotFoundError):
        molecules.predict(tmp_path / "CCO")  # a Path is always a file
    # a string too long to be a file name is data (Path.exists raised ENAMETOOLONG)
    assert len(molecules.predict("C" * 300)) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a whole number >= 1, got 0"),
        ({"num_workers": -1}, "num_workers must be a whole number >= 0, got -1"),
        ({"on_error": "Skip"}, "on_error must be 'raise' or 'skip', got 'Skip'"),
    ],
)
def test_python_run_options_are_checked_at_the_call(molecules, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        molecules.iter_rows(["CCO"], **options)
    with pytest.raises(ValueError, match=message):
        molecules.predict_file(["CCO"], tmp_path / "p.csv", **options)
    assert not (tmp_path / "p.csv").exists()
