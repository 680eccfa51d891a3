"""Train -> evaluate (metrics + parity plot) -> predict on real FreeSolv molecules via `sci`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from scisuite.cli import main
from scisuite.core.checkpoint import load_checkpoint

SAMPLE = Path(__file__).parents[2] / "data" / "freesolv_sample.csv"


def test_train_evaluate_predict_end_to_end(tmp_path) -> None:
    ckpt = tmp_path / "model"
    assert (
        main(
            [
                "train",
                "--domain",
                "molecule",
                "--data",
                str(SAMPLE),
                "--target-columns",
                "expt",
                "--split",
                "random",
                "--epochs",
                "3",
                "--batch-size",
                "16",
                "--set",
                "backbone.d_model=32",
                "--set",
                "backbone.num_layers=2",
                "--ensemble-size",
                "2",
                "-o",
                str(ckpt),
                "--quiet",
            ]
        )
        == 0
    )
    meta, state = load_checkpoint(ckpt)
    assert meta.model_config["backbone"]["d_model"] == 32
    assert meta.model_config["ensemble_size"] == 2
    assert meta.extra["provenance"]["split"]["sizes"] == [51, 6, 7]
    assert set(meta.metrics["test"]) >= {"rmse", "mae", "r2", "spearman"}
    # The fingerprint head was chosen on validation and the other head dropped.
    selection = meta.metrics["selection"]
    assert meta.model_config["fingerprint_use"] == selection["fingerprint_use"] in ("on", "off")
    assert set(selection["val_loss"]) == {"graph", "fingerprint"}
    kept = "fingerprint" if selection["fingerprint_use"] == "on" else "graph"
    assert {k.split(".")[3] for k in state if ".heads." in k} == {kept}
    # the ensemble's std was calibrated on validation and its quality reported
    assert meta.metrics["selection"]["std_scale"] == meta.model_config["std_scale"]
    assert set(meta.metrics["test"]) >= {"uncertainty_spearman", "miscalibration_area"}
    report = tmp_path / "report"
    assert (
        main(
            [
                "evaluate",
                "--domain",
                "molecule",
                str(SAMPLE),
                "--checkpoint",
                str(ckpt),
                "-o",
                str(report),
            ]
        )
        == 0
    )
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["rmse"] > 0 and 0 <= metrics["miscalibration_area"] <= 0.5
    png = report / "parity_expt.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "pred.csv"
    assert (
        main(
            [
                "predict",
                "--domain",
                "molecule",
                str(SAMPLE),
                "--checkpoint",
                str(ckpt),
                "-o",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    frame = pd.read_csv(out)
    assert len(frame) == 64 and (frame["status"] == "ok").all()
    assert frame["expt_std"].gt(0).all()  # two ensemble members disagree somewhere


def test_unknown_override_is_a_clear_error(tmp_path, capsys) -> None:
    code = main(
        [
            "train",
            "--domain",
            "molecule",
            "--data",
            str(SAMPLE),
            "--target-columns",
            "expt",
            "--set",
            "backbone.d_modle=32",
            "-o",
            str(tmp_path / "m"),
            "--quiet",
        ]
    )
    assert code == 1 and "d_modle" in capsys.readouterr().err


def test_fine_tuning_the_two_target_default_on_a_one_target_csv(tmp_path) -> None:
    shipped = Path(__file__).parents[2] / "scisuite" / "weights" / "molecule"
    out = tmp_path / "tuned"
    argv = ["train", "--domain", "molecule", "--data", str(SAMPLE), "--target-columns", "expt"]
    argv += ["--split", "random", "--init-from", str(shipped), "--epochs", "1"]
    assert main([*argv, "--batch-size", "16", "-o", str(out), "--quiet"]) == 0
    meta, state = load_checkpoint(out)
    start = meta.extra["init_from"]
    assert meta.model_config["target_names"] == ["expt"]
    # the backbone comes from the checkpoint, the output layer for the new target is fresh
    assert start["transferred_tensors"] > len(start["reinitialised_tensors"])
    assert any(name.endswith("mlp.2.weight") for name in start["reinitialised_tensors"])
    assert not any(".backbone." in name for name in start["reinitialised_tensors"])


def test_mean_variance_estimation_gives_one_model_a_calibrated_std(tmp_path) -> None:
    ckpt, out = tmp_path / "mve", tmp_path / "pred.csv"
    argv = ["train", "--domain", "molecule", "--data", str(SAMPLE), "--target-columns", "expt"]
    argv += ["--split", "random", "--epochs", "2", "--batch-size", "16", "--quiet"]
    argv += ["--set", "backbone.d_model=32", "--set", "backbone.num_layers=2"]
    assert main([*argv, "--uncertainty", "mve", "-o", str(ckpt)]) == 0
    meta, state = load_checkpoint(ckpt)
    assert meta.model_config["ensemble_size"] == 1
    assert len(meta.model_config["std_scale"]) == 1 and meta.model_config["std_scale"][0] > 0
    assert {"gaussian_nll", "coverage_95"} <= set(meta.metrics["val"])
    # the head predicts a mean and a variance per target
    last = [v for k, v in state.items() if ".heads." in k and k.endswith("mlp.2.weight")]
    assert len(last) == 1 and last[0].shape[0] == 2
    predict = ["predict", "--domain", "molecule", str(SAMPLE), "--checkpoint", str(ckpt)]
    assert main([*predict, "-o", str(out), "--quiet"]) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 64 and frame["expt_std"].gt(0).all()


def test_fine_tuning_a_csv_from_the_shipped_pretrained_backbone(tmp_path) -> None:
    from safetensors.torch import load_file

    pretrained = Path(__file__).parents[2] / "scisuite" / "weights" / "molecule-pretrained"
    out = tmp_path / "tuned"
    argv = ["train", "--domain", "molecule", "--data", str(SAMPLE), "--target-columns", "expt"]
    argv += ["--split", "random", "--init-from", "pretrained", "--epochs", "1", "--quiet"]
    assert main([*argv, "--ensemble-size", "2", "--batch-size", "16", "-o", str(out)]) == 0
    meta, _ = load_checkpoint(out)
    start = meta.extra["init_from"]
    assert Path(start["path"]) == pretrained
    # the weight-free pooling the backbone was trained under comes with it
    assert meta.model_config["pooling"] == "mean" and "pooling" in start["inherited_settings"]
    assert not any(".backbone." in name for name in start["reinitialised_tensors"])
    # before the first step both members held the pretrained backbone; after one epoch of
    # fine-tuning they are near it, not at a fresh initialisation
    source = load_file(pretrained / "model.safetensors")
    tuned = load_file(out / "model.safetensors")
    key = next(k for k in source if ".backbone." in k and source[k].dim() == 2)
    member_key = key.replace("members.0.", "members.1.")
    drift = (tuned[member_key] - source[key]).norm() / source[key].norm()
    assert drift < 0.5


def test_a_set_pooling_wins_over_the_inherited_one(tmp_path) -> None:
    argv = ["train", "--domain", "molecule", "--data", str(SAMPLE), "--target-columns", "expt"]
    argv += ["--init-from", "pretrained", "--epochs", "1", "--quiet", "--set", "pooling=sum"]
    assert main([*argv, "--split", "random", "-o", str(tmp_path / "m")]) == 0
    meta, _ = load_checkpoint(tmp_path / "m")
    assert meta.model_config["pooling"] == "sum"
    assert meta.extra["init_from"]["inherited_settings"] == ["backbone"]


def test_another_domains_checkpoint_is_refused_before_its_settings_are_used(
    tmp_path, capsys
) -> None:
    protein = Path(__file__).parents[2] / "scisuite" / "weights" / "protein"
    argv = ["train", "--domain", "molecule", "--data", str(SAMPLE), "--target-columns", "expt"]
    argv += ["--init-from", str(protein), "--epochs", "1", "--quiet", "-o", str(tmp_path / "m")]
    assert main(argv) == 1
    assert "is a protein checkpoint, not molecule" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_distilling_a_teacher_into_a_smaller_student_on_a_users_molecules(tmp_path) -> None:
    """--distill-from: the teacher labels the user's unlabelled file; validation and test
    keep their measured labels and their molecules never join the teacher-labelled set."""
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    frame = pd.read_csv(SAMPLE)
    unlabelled = tmp_path / "unlabelled.csv"
    extra = ["CCCCCCO", "c1ccc(cc1)CC(=O)O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "not-a-smiles"]
    # every labelled molecule too: the validation/test ones must be dropped, the rest kept
    pd.DataFrame({"smiles": [*frame["smiles"], *extra]}).to_csv(unlabelled, index=False)
    base = ["train", "--domain", "molecule", "--data", str(SAMPLE), "--target-columns", "expt"]
    base += ["--split", "random", "--epochs", "1", "--batch-size", "16", "--quiet"]
    small = ["--set", "backbone.d_model=16", "--set", "backbone.num_layers=1"]
    assert main([*base, *small, "-o", str(teacher)]) == 0
    argv = [*base, *small, "--distill-from", str(teacher), "--distill-data", str(unlabelled)]
    assert main([*argv, "-o", str(student)]) == 0
    meta, _ = load_checkpoint(student)
    distilled = meta.extra["provenance"]["distillation"]
    assert distilled["teacher"] == str(teacher)
    assert distilled["unlabelled"]["file"] == str(unlabelled)
    # 64 labelled + 3 new readable molecules, minus the 13 validation and test molecules
    assert distilled["teacher_labelled_molecules"] == 64 + 3 - 13
    assert meta.extra["provenance"]["split"]["sizes"] == [51 + 54, 6, 7]
