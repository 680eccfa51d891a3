"""Residue tracks: streamed from the predictions, in the table's format, never re-read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scisuite.core.io import read_table
from scisuite.core.plugin import Predicted
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.generation import SequencePrediction
from scisuite.domains.protein.plugin import PLUGIN
from scisuite.domains.protein.tracks import RESIDUE_COLUMNS, ResidueTracks


def _predicted(rid: str, sequence: str, ss3: str, ss8: str = "") -> Predicted:
    row = {"id": rid, "sequence": sequence, "dssp3": ss3, "dssp8": ss8, "status": "ok"}
    return Predicted(row, SequencePrediction(ss3=ss3, ss8=ss8 or None, windows=1))


def test_tracks_stream_rows_without_the_output_table(tmp_path: Path) -> None:
    output = tmp_path / "pred.tsv"
    (sink,) = PLUGIN.reports.prediction_outputs(output, ProteinConfig())
    sink.write(_predicted("007", "MKTA", "HHEC", "HGEC"))
    sink.write(Predicted({"id": "bad", "sequence": "MK*", "status": "error", "error": "stop"}))
    sink.write(_predicted("b", "GIG", "CCH"))
    written = sink.close()
    assert not output.exists()  # the tracks never read the prediction table back
    assert written == [tmp_path / "pred.residues.tsv", tmp_path / "pred.ss.png"]
    table = pd.read_csv(written[0], sep="\t", dtype={"id": str}, keep_default_na=False)
    assert list(table.columns) == RESIDUE_COLUMNS
    assert list(table["id"]) == ["007"] * 4 + ["b"] * 3
    assert "".join(table["residue"]) == "MKTAGIG" and "".join(table["dssp3"]) == "HHECCCH"
    assert list(table["dssp8"]) == list("HGEC") + ["", "", ""]
    assert list(table["position"]) == [1, 2, 3, 4, 1, 2, 3]
    assert written[1].read_bytes()[:4] == b"\x89PNG"


def test_tracks_follow_the_table_format_and_abort_cleanly(tmp_path: Path) -> None:
    sink = ResidueTracks(tmp_path / "pred.parquet")
    sink.write(_predicted("a", "MK", "HE"))
    residues, _ = sink.close()
    assert residues.name == "pred.residues.parquet" and len(read_table(residues)) == 2
    aborted = ResidueTracks(tmp_path / "other.csv")
    aborted.write(_predicted("a", "MK", "HE"))
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.residues.parquet", "pred.ss.png"]
