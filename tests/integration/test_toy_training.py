"""Train -> checkpoint -> evaluate -> predict through the public API and CLI (toy plugin)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))

from toy_plugin import PLUGIN  # noqa: E402

from scisuite import api  # noqa: E402
from scisuite.cli import main  # noqa: E402
from scisuite.core.checkpoint import load_checkpoint  # noqa: E402
from scisuite.core.registry import PluginRegistry  # noqa: E402

REGISTRY = PluginRegistry([PLUGIN], use_entry_points=False)


def test_cli_train_learns_and_writes_a_complete_checkpoint(tmp_path) -> None:
    out = tmp_path / "ckpt"
    code = main(
        [
            "train",
            "--domain",
            "toyring",
            "--dataset",
            "rings",
            "-o",
            str(out),
            "--epochs",
            "12",
            "--batch-size",
            "4",
            "--lr",
            "1e-2",
            "--quiet",
            "--seed",
            "1",
        ],
        registry=REGISTRY,
    )
    assert code == 0
    meta, state = load_checkpoint(out)
    assert meta.domain == "toyring" and meta.data_fingerprint and state
    assert meta.command.startswith("sci train --domain toyring")
    assert meta.normalizers == {"target_mean": 16.0, "target_std": 8.0}
    # the ring size (3..29, std ~8) is learnable: RMSE far below predicting the mean
    assert meta.metrics["val"]["rmse"] < 0.5 * 7.8, meta.metrics  # std of sizes 3..29
    metrics = api.evaluate(api_request(), checkpoint=out, registry=REGISTRY).metrics
    assert metrics["rmse"] == pytest.approx(
        meta.metrics["val"]["rmse"], rel=1e-4
    )  # batch size differs
    report = tmp_path / "report"
    assert (
        main(
            [
                "evaluate",
                "--domain",
                "toyring",
                "--dataset",
                "rings",
                "--checkpoint",
                str(out),
                "-o",
                str(report),
            ],
            registry=REGISTRY,
        )
        == 0
    )
    assert json.loads((report / "metrics.json").read_text())["rmse"] == metrics["rmse"]
    frame = api.load(out, registry=REGISTRY).predict([10, 20])
    assert frame["status"].tolist() == ["ok", "ok"]
    assert abs(frame["prediction"][1] - frame["prediction"][0]) > 2.0  # bigger ring, bigger value
    assert isinstance(frame, pd.DataFrame)


def api_request():
    from scisuite.core.plugin import TrainRequest

    return TrainRequest(dataset="rings")


def _train_toy(out: Path, epochs: int, lr: str, *extra: str) -> None:
    args = ["train", "--domain", "toyring", "--dataset", "rings", "-o", str(out)]
    args += ["--epochs", str(epochs), "--batch-size", "4", "--lr", lr, "--quiet", *extra]
    assert main(args, registry=REGISTRY) == 0


def test_init_from_starts_from_the_checkpoint_weights_and_records_it(tmp_path) -> None:
    first = tmp_path / "first"
    _train_toy(first, 12, "1e-2", "--seed", "1")
    first_meta, _ = load_checkpoint(first)
    # a near-zero learning rate keeps the start: the result scores like the first checkpoint,
    # far better than the same seed's random initialisation does after the same epoch
    resumed, fresh = tmp_path / "resumed", tmp_path / "fresh"
    _train_toy(resumed, 1, "1e-7", "--seed", "2", "--init-from", str(first))
    _train_toy(fresh, 1, "1e-7", "--seed", "2")
    resumed_meta, _ = load_checkpoint(resumed)
    fresh_meta, _ = load_checkpoint(fresh)
    assert resumed_meta.metrics["val"]["rmse"] == pytest.approx(
        first_meta.metrics["val"]["rmse"], rel=1e-3
    )
    assert fresh_meta.metrics["val"]["rmse"] > 2 * resumed_meta.metrics["val"]["rmse"]
    start = resumed_meta.extra["init_from"]
    assert start["path"] == str(first) and start["command"] == first_meta.command
    assert "init_from" not in fresh_meta.extra


def test_init_from_refuses_other_domains_and_other_shapes(tmp_path) -> None:
    from dataclasses import replace

    from scisuite.core.checkpoint import save_checkpoint

    first = tmp_path / "first"
    _train_toy(first, 1, "1e-3")
    meta, state = load_checkpoint(first)
    other_domain = save_checkpoint(tmp_path / "other", state, replace(meta, domain="molecule"))
    with pytest.raises(ValueError, match="is a molecule checkpoint"):
        api.train(
            "toyring",
            api_request(),
            _toy_train_config(),
            tmp_path / "x",
            registry=REGISTRY,
            init_from=other_domain,
        )
    # another architecture (every tensor reshaped) is refused ...
    reshaped_state = {k: v.new_zeros(*[s + 1 for s in v.shape]) for k, v in state.items()}
    reshaped = save_checkpoint(tmp_path / "reshaped", reshaped_state, meta)
    with pytest.raises(ValueError, match="covers 0 of the"):
        api.train(
            "toyring",
            api_request(),
            _toy_train_config(),
            tmp_path / "y",
            registry=REGISTRY,
            init_from=reshaped,
        )
    # ... while a checkpoint that differs in a small part (a head for other targets) starts
    # everything else and records what was initialised afresh
    name = min(state, key=lambda k: state[k].numel())
    state[name] = state[name].new_zeros(*[s + 1 for s in state[name].shape])
    head_differs = save_checkpoint(tmp_path / "head", state, meta)
    out = api.train(
        "toyring",
        api_request(),
        _toy_train_config(),
        tmp_path / "z",
        registry=REGISTRY,
        init_from=head_differs,
    )
    start = load_checkpoint(out)[0].extra["init_from"]
    assert start["reinitialised_tensors"] == [name]
    assert start["transferred_tensors"] == len(state) - 1


def _toy_train_config():
    from scisuite.core.config import TrainConfig

    return TrainConfig(max_epochs=1, batch_size=4, accelerator="cpu")
