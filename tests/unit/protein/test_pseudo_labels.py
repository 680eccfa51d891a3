"""Teacher pseudo-labels of UniProt sequences (``pseudo_labels.py``) and their use in training
examples (``tasks.split_examples`` with ``pseudo_ss_tasks``)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
import torch

from scisuite import api
from scisuite.core.checkpoint import CheckpointMeta, save_checkpoint
from scisuite.core.config import ConfigError
from scisuite.core.plugin import TrainRequest
from scisuite.domains.protein.datasets import UNIPROT_DIR
from scisuite.domains.protein.plugin import PLUGIN
from scisuite.domains.protein.pseudo_labels import pick_sequences, pseudo_ss_path
from scisuite.domains.protein.tasks import Sources, split_examples
from scisuite.domains.protein.training_data import load_sources

# UniProt sequences (ubiquitin P0CG48 1-76, BPTI P00974 36-93, insulin B, lysozyme C
# P00698 19-147 first 60), and one with X that a design task must never see
SEQUENCES = {
    "ubiquitin": "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
    "bpti": "RPDFCLEPPYTGPCKARIIRYFYNAKAGLCQTFVYGGCRAKRNNFKSAEDCMRTCGGA",
    "insulin_b": "FVNQHLCGSHLVEALYLVCGERGFFYTPKT",
    "lysozyme": "KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINS",
    "with_x": "MKTAYIAKQRQISFVKSHFSRQXXXXLEERLGLIEVQAPILSRVGDGTQDNLSGAEK",
}


def _uniprot(tmp_path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "id": list(SEQUENCES),
            "sequence": list(SEQUENCES.values()),
            "split": ["train", "train", "validation", "train", "train"],
        }
    )
    folder = tmp_path / UNIPROT_DIR
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "sequences.parquet")
    return tmp_path


def test_pick_sequences_is_seeded_and_keeps_only_usable_training_sequences(tmp_path) -> None:
    frame = pd.read_parquet(_uniprot(tmp_path) / UNIPROT_DIR / "sequences.parquet")
    picked = pick_sequences(frame, 10, 30, 70, seed=0)
    # validation (insulin B), too long (ubiquitin, 76) and X-containing rows are left out
    assert list(picked["id"]) == ["bpti", "lysozyme"]
    one = pick_sequences(frame, 1, 30, 400, seed=3)
    assert len(one) == 1 and one.equals(pick_sequences(frame, 1, 30, 400, seed=3))
    assert {tuple(pick_sequences(frame, 1, 30, 400, seed=s)["id"]) for s in range(12)} == {
        ("ubiquitin",),
        ("bpti",),
        ("lysozyme",),
    }


def test_generate_writes_teacher_labels_and_provenance(tiny_config, tmp_path) -> None:
    data_dir = _uniprot(tmp_path)
    torch.manual_seed(0)
    config = tiny_config()
    meta = CheckpointMeta(PLUGIN.name, PLUGIN.schema_version, config.to_dict(), command="t")
    teacher = save_checkpoint(
        tmp_path / "teacher", PLUGIN.task.build_model(config).state_dict(), meta
    )
    path = api.generate(
        "protein", "pseudo-ss", data_dir, teacher=str(teacher), sequences=5, quiet=True
    )
    assert path == pseudo_ss_path(data_dir)
    table = pd.read_parquet(path)
    assert list(table["id"]) == ["ubiquitin", "bpti", "lysozyme"]
    assert set(table["split"]) == {"train"}
    for sequence, labels in zip(table["sequence"], table["dssp3"], strict=True):
        assert len(labels) == len(sequence) and set(labels) <= set("HEC")
    info = json.loads((path.parent / "provenance.json").read_text())
    assert info["source"]["teacher"] == str(teacher)
    assert len(info["source"]["teacher_weights_sha256"]) == 64
    assert info["counts"]["sequences"] == 3
    with pytest.raises(ValueError, match="--teacher"):
        api.generate("protein", "pseudo-ss", data_dir, quiet=True)
    with pytest.raises(FileNotFoundError, match="sci data build protein uniprot"):
        api.generate("protein", "pseudo-ss", tmp_path / "empty", teacher=str(teacher))


def _structures() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["c1", "c2"],
            "sequence": ["MKTAYIAKQRQISFVKSHFSRQ", "GSHMLEDPVDAFQLKQWPAAE"],
            "dssp3": ["CCHHHHHHHHHHCCEEEEECCC", "CCCEEEEECCHHHHHHHHHCC"],
            "dssp8": ["CCHHHHHHHHHHCCEEEEECCC", "CCCEEEEECCHHHHHHHHHCC"],
            "split": ["train", "validation"],
        }
    )


def _pseudo() -> pd.DataFrame:
    rng = random.Random(0)
    sequences = [s for s in SEQUENCES.values() if "X" not in s]
    return pd.DataFrame(
        {
            "id": [f"u{i}" for i in range(len(sequences))],
            "sequence": sequences,
            "dssp3": ["".join(rng.choice("HEC") for _ in s) for s in sequences],
            "split": "train",
        }
    )


def test_pseudo_labels_add_training_examples_of_their_tasks_only(tiny_config) -> None:
    tasks = ("ss3", "design_content")
    plain = tiny_config(tasks=tasks, task_weights=(1.0, 1.0))
    with_pseudo = plain.replace(pseudo_ss_tasks=("design_content",), pseudo_ss_weight=2.0)
    sources = Sources(structures=_structures(), pseudo_ss=_pseudo())
    before = split_examples(Sources(structures=_structures()), plain, "train", 0)
    after = split_examples(sources, with_pseudo, "train", 0)
    added = [e for e in after if e.sequence not in {b.sequence for b in before}]
    assert added and {e.task for e in added} == {"design_content"}
    pseudo_text = "".join(_pseudo()["sequence"])
    assert all(e.sequence in pseudo_text for e in added)  # windows of pseudo sequences
    # the real chains' examples are the same draws as without pseudo-labels
    key = sorted((e.task, e.sequence, e.values) for e in before)
    assert sorted((e.task, e.sequence, e.values) for e in after if e not in added) == key
    # held-out splits never see them; a config without pseudo_ss_tasks ignores the table
    for split in ("validation", "test"):
        assert split_examples(sources, with_pseudo, split, 0) == split_examples(
            Sources(structures=_structures()), plain, split, 0
        )
    assert split_examples(sources, plain, "train", 0) == before
    # the weight scales how many windows a pseudo sequence gives
    fewer = split_examples(sources, with_pseudo.replace(pseudo_ss_weight=0.5), "train", 0)
    assert len(fewer) < len(after)


@pytest.mark.parametrize(
    "changes",
    [
        {"pseudo_ss_tasks": ("ss8",)},  # pseudo-labels are DSSP3 only
        {"pseudo_ss_tasks": ("amp",)},
        {"tasks": ("ss3",), "task_weights": (1.0,), "pseudo_ss_tasks": ("design_content",)},
        {"pseudo_ss_tasks": ("design_content",), "pseudo_ss_weight": 0.0},
    ],
)
def test_config_refuses_bad_pseudo_settings(tiny_config, changes) -> None:
    with pytest.raises(ConfigError, match="pseudo_ss"):
        tiny_config(**changes)


def test_training_without_the_pseudo_table_says_how_to_make_it(tmp_path) -> None:
    request = TrainRequest(dataset="structures", columns={"data_dir": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match="sci data generate protein pseudo-ss"):
        load_sources(request, (), pseudo_ss=True)
