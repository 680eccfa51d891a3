from __future__ import annotations

import pytest

from scisuite.core.plugin import TrainRequest
from scisuite.domains.mesh.training_data import (
    MeshData,
    config_for,
    evaluation_data,
    evaluation_trajectories,
    split_trajectories,
)


def test_split_is_by_trajectory_seeded_and_complete() -> None:
    ids = [f"traj_{i:05d}" for i in range(10)]
    split = split_trajectories(ids, seed=0)
    assert sorted(split) == ids and list(split.values()).count("test") == 1
    assert split == split_trajectories(list(reversed(ids)), seed=0)
    assert split != split_trajectories(ids, seed=1)
    assert set(split_trajectories(ids[:2], 0).values()) == {"train", "val"}


def test_the_held_out_family_is_never_trained_or_validated_on() -> None:
    ids = [f"traj_{i:05d}" for i in range(18)]
    families = {i: ("triangle" if n % 9 == 8 else "circle") for n, i in enumerate(ids)}
    split = split_trajectories(ids, seed=0, families=families)
    assert {i for i, p in split.items() if p == "held-out"} == {"traj_00008", "traj_00017"}
    seen = [i for i in ids if families[i] != "triangle"]
    assert {p for i, p in split.items() if i in seen} == {"train", "val", "test"}


def test_training_data_split_normalisers_and_noise(data) -> None:
    split = data.provenance["split"]
    parts = [set(split[name]) for name in ("train", "val", "test")]
    assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    config = data.config
    assert config.velocity_std != (1.0, 1.0) and config.target_std != (1.0, 1.0, 1.0)
    assert len(data.train) == 2 * 7 and data.provenance["unroll_steps"] == 1
    assert len(data.val) == 7 and len(data.test) == 7
    assert config.backbone.d_model == 16 and data.fingerprint


def test_model_presets_and_overrides(dataset, tiny) -> None:
    def config(**columns):
        request = TrainRequest(
            data=dataset, columns=columns, model_overrides={**tiny, "history": 1}
        )
        return config_for(request)

    assert config(model="mgn").backbone.attention == "none"
    assert config().backbone.node_in_dim == 9  # follows history=1
    request = TrainRequest(data=dataset, model_overrides={"pressure_input": False})
    assert config_for(request).backbone.node_in_dim == 6
    assert config(noise=0.0).noise_std == 0.0
    with pytest.raises(ValueError, match="--model"):
        config(model="gnn")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (TrainRequest(dataset="airfoil"), "unknown mesh dataset"),
        (TrainRequest(data="/nonexistent/dir"), "sci data generate mesh"),
    ],
)
def test_bad_sources_say_what_to_do(request_, message) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        MeshData().build_training_data(request_)


def test_evaluation_uses_the_test_split_or_a_test_file(dataset, data) -> None:
    request = TrainRequest(data=dataset, seed=0)
    (test,) = list(evaluation_trajectories(request))
    assert test.num_frames == 8
    graphs = evaluation_data(request, data.config)
    assert len(graphs) == 7
    file = sorted(dataset.glob("*.h5"))[0]
    from_file = list(evaluation_trajectories(TrainRequest(test=file)))
    assert len(from_file) == 1 and from_file[0].num_frames == 8
    assert "cylinder-flow" in MeshData().datasets
