"""#16 finding 6 as reported, on copies of the shipped checkpoints: ``num_layers: "4"``,
``schema_version: "2"`` and a protein checkpoint passed with ``--domain molecule`` each end
in one ``sci: error:`` line naming the file and the key (exit 1, no traceback); the shipped
configs themselves pass every check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scisuite import api
from scisuite.api.checkpoints import checked_config
from scisuite.cli import main
from scisuite.core.checkpoint import read_meta
from scisuite.core.registry import PluginRegistry


@pytest.mark.parametrize("domain", ["molecule", "protein", "mesh"])
def test_the_shipped_configs_pass_the_type_checks(domain: str) -> None:
    shipped = api.shipped_checkpoint(domain)
    assert shipped is not None
    plugin = PluginRegistry().get(domain)
    config = checked_config(plugin, read_meta(shipped), shipped)
    stored = read_meta(shipped).model_config
    # every stored value round-trips; fields added since (e.g. the applicability domain)
    # take their documented defaults
    assert {k: v for k, v in config.to_dict().items() if k in stored} == stored


def _copy(domain: str, tmp_path: Path, change=None) -> Path:
    shipped = api.shipped_checkpoint(domain)
    assert shipped is not None
    target = tmp_path / f"{domain}_ckpt"
    shutil.copytree(shipped, target)
    if change is not None:
        values = json.loads((target / "config.json").read_text())
        change(values)
        (target / "config.json").write_text(json.dumps(values))
    return target


def _predict_error(checkpoint: Path, domain: str, capsys) -> str:
    smiles = checkpoint.parent / "one.smi"
    smiles.write_text("CCO\n")
    code = main(["predict", "--domain", domain, "--checkpoint", str(checkpoint), str(smiles)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_num_layers_as_a_string(tmp_path: Path, capsys) -> None:
    checkpoint = _copy(
        "molecule", tmp_path, lambda v: v["model_config"]["backbone"].update(num_layers="4")
    )
    err = _predict_error(checkpoint, "molecule", capsys)
    assert str(checkpoint / "config.json") in err
    assert "model_config.backbone.num_layers must be an integer, got the string '4'" in err


def test_schema_version_as_a_string(tmp_path: Path, capsys) -> None:
    checkpoint = _copy("molecule", tmp_path, lambda v: v.update(schema_version="2"))
    err = _predict_error(checkpoint, "molecule", capsys)
    assert "schema_version must be an integer, got the string '2'" in err


def test_a_protein_checkpoint_never_becomes_the_molecule_domain(tmp_path: Path, capsys) -> None:
    checkpoint = _copy("protein", tmp_path)
    err = _predict_error(checkpoint, "molecule", capsys)
    assert f"checkpoint {checkpoint} is a protein checkpoint, not molecule" in err


def test_evaluate_never_switches_the_domain_asked_for(tmp_path, capsys) -> None:
    protein = _copy("protein", tmp_path)
    sample = Path(__file__).parents[2] / "data" / "freesolv_sample.csv"
    argv = ["evaluate", "--domain", "molecule", "--checkpoint", str(protein), str(sample)]
    assert main([*argv, "--target-columns", "expt"]) == 1
    err = capsys.readouterr().err
    assert "is a protein checkpoint, not molecule" in err and "Traceback" not in err
