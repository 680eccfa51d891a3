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
    metrics, *_ = api.evaluate(api_request(), checkpoint=out, registry=REGISTRY)
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
