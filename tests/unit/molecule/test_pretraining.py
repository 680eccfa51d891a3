"""Descriptor pretraining: RDKit labels of MOSES molecules, and a pretrained backbone that
starts every member of a fine-tuned ensemble (#14)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scisuite.domains.molecule.config import MoleculeConfig
from scisuite.domains.molecule.pretraining import (
    EXCLUDED,
    descriptor_names,
    descriptor_records,
    descriptor_rows,
    descriptor_table,
)
from scisuite.domains.molecule.task import MoleculeTask


def test_descriptors_of_known_molecules_and_nan_for_unparsable_ones() -> None:
    names = descriptor_names()
    assert not set(EXCLUDED) & set(names) and len(names) > 150
    rows = descriptor_rows(["CCO", "not a smiles", "c1ccccc1"])
    weight = names.index("MolWt")
    assert rows[0, weight] == pytest.approx(46.069, abs=1e-3)
    assert rows[2, names.index("NumAromaticRings")] == 1
    assert np.isnan(rows[1]).all()


def test_the_sample_is_seeded_clipped_and_cached(tmp_path) -> None:
    first = descriptor_table(120, seed=3, cache_dir=tmp_path)
    assert list(tmp_path.glob("moses-descriptors-120-3-*.parquet"))
    again = descriptor_table(120, seed=3, cache_dir=tmp_path)  # from the cache
    assert first.equals(again)
    other = descriptor_table(120, seed=4, cache_dir=tmp_path)
    assert set(other["smiles"]) != set(first["smiles"])
    values = first.drop(columns="smiles")
    assert (values.std() > 0).all()  # constant columns are dropped
    high = np.nanpercentile(descriptor_rows(list(first["smiles"])), 99.5, axis=0)
    kept = [descriptor_names().index(c) for c in values.columns]
    assert (values.max().to_numpy() <= high[kept] + 1e-9).all()
    records = descriptor_records(first)
    assert len(records) == 120 and records[0].payload["smiles"] == first["smiles"][0]
    assert all(not math.isinf(v) for v in records[0].payload["targets"].values())


def test_a_one_member_backbone_starts_every_member_and_heads_start_fresh() -> None:
    task = MoleculeTask()
    names = descriptor_names()[:5]
    pretrained = task.build_model(
        MoleculeConfig(target_names=names, target_mean=(0.0,) * 5, target_std=(1.0,) * 5,
                       fingerprint_use="off")
    )  # fmt: skip
    fine = task.build_model(
        MoleculeConfig(target_names=("logS",), target_mean=(0.0,), target_std=(1.0,),
                       ensemble_size=2, fingerprint_use="off")
    )  # fmt: skip
    source = pretrained.state_dict()
    chosen = task.transferable_weights(fine.state_dict(), source)
    backbone = [k for k in fine.state_dict() if ".backbone." in k]
    assert set(backbone) <= set(chosen)
    for name in backbone:
        assert torch.equal(chosen[name], source[name.replace("members.1.", "members.0.")])
    assert not any(".heads." in k and k.endswith("weight") and chosen[k].shape[0] == 5
                   for k in chosen)  # fmt: skip
    last = [k for k in fine.state_dict() if ".heads." in k][-1]
    assert last not in chosen  # the output layer for other targets starts fresh
