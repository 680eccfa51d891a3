"""Protein generation speed: cached decoding vs full recompute per token, same model, same process.

Two workloads, each run in both modes on the same model and inputs:

1. Generation: ``cont[<10 residues>]=`` prompts answered by exactly N constrained residues
   (N = 64 / 256 / 512 output tokens), batch 1 and batch 8, greedy. Tokens/s = generated
   answer tokens / wall seconds.
2. Per-residue prediction: DSSP3 of real held-out chains (``--data-dir``; a fixed set of
   public sequences otherwise) by constrained greedy decoding over the model's windows.
   Residues/s = residues labelled / wall seconds.

"Full recompute" re-runs the whole sequence through the flat causal path for every new token
(how the original implementation generated); "cached" keeps keys, values and the
attention-graph propagation states per layer (``scisuite.core.decoding``). Both modes must
give the same greedy tokens; the JSON records whether they did.

    nice -n 19 python bench/protein_generation.py [--checkpoint DIR] [--data-dir DIR]

Writes ``bench/results/protein_generation.json`` atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from scisuite.core.checkpoint import load_checkpoint
from scisuite.core.io import atomic_path
from scisuite.domains.protein.config import ProteinConfig
from scisuite.domains.protein.generation import SamplingConfig, generate, predict_sequences
from scisuite.domains.protein.model import ProteinLM
from scisuite.domains.protein.prompts import Example, get_task

PROMPT_PREFIX = "MKTAYIAKQR"
# Public sequences used when no data directory is given: human ubiquitin (P0CG48, 1-76),
# hen egg-white lysozyme (P00698, mature chain), bovine pancreatic trypsin inhibitor (P00974).
FALLBACK_SEQUENCES = (
    "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
    "KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSS"
    "DITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL",
    "RPDFCLEPPYTGPCKARIIRYFYNAKAGLCQTFVYGGCRAKRNNFKSAEDCMRTCGGA",
)


def load_model(checkpoint: Path | None, seed: int) -> tuple[ProteinLM, ProteinConfig, str]:
    """The checkpoint's model, or the default architecture with seeded random weights."""
    if checkpoint is None:
        torch.manual_seed(seed)
        config = ProteinConfig()
        return ProteinLM(config).eval(), config, "default architecture, random weights"
    meta, state = load_checkpoint(checkpoint)
    config = ProteinConfig.from_dict(meta.model_config)
    model = ProteinLM(config)
    model.load_state_dict(state)
    return model.eval(), config, str(checkpoint)


def timed(function: Any, repeats: int) -> tuple[Any, float]:
    """``function()``'s result and its median wall seconds over ``repeats`` calls."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return result, statistics.median(seconds)


def warm_up(model: ProteinLM, config: ProteinConfig) -> None:
    """One short generation per mode, so neither mode's first timed call pays lazy
    initialisation (allocator growth, kernel selection)."""
    for mode in ("cached", "recompute"):
        generation_case(model, config, tokens=8, batch=2, repeats=1, mode_only=mode)


def generation_case(
    model: ProteinLM,
    config: ProteinConfig,
    tokens: int,
    batch: int,
    repeats: int,
    mode_only: str | None = None,
) -> dict[str, Any]:
    """Tokens/s of ``batch`` rows x ``tokens`` constrained residues in both modes (median of
    ``repeats`` calls each), or in ``mode_only``."""
    spec = get_task("continue")
    example = Example("continue", prefix=PROMPT_PREFIX)
    prompt = spec.prompt(config.grammar, example)
    constraint = spec.constraint(config.grammar, example, max_length=tokens)
    greedy = SamplingConfig(temperature=0.0)
    out: dict[str, Any] = {"output_tokens": tokens, "batch": batch}
    answers = {}
    for mode in (mode_only,) if mode_only else ("cached", "recompute"):
        result, seconds = timed(
            lambda mode=mode: generate(model, [prompt] * batch, [constraint] * batch, greedy, mode),
            repeats,
        )
        answers[mode] = result.answers
        out[f"{mode}_seconds"] = round(seconds, 3)
        out[f"{mode}_tokens_per_s"] = round(result.new_tokens / seconds, 1)
    if mode_only:
        return out
    out["speedup"] = round(out["recompute_seconds"] / out["cached_seconds"], 2)
    out["identical_greedy_tokens"] = answers["cached"] == answers["recompute"]
    return out


def prediction_case(
    model: ProteinLM, config: ProteinConfig, sequences: list[str], batch_size: int, repeats: int
) -> dict[str, Any]:
    """Residues/s of DSSP3 prediction in both modes."""
    ss3 = config.replace(predict_tasks=("ss3",))
    residues = sum(len(s) for s in sequences)
    out: dict[str, Any] = {
        "sequences": len(sequences),
        "residues": residues,
        "window_residues": config.residue_window(),
        "batch_size": batch_size,
    }
    labels = {}
    for mode in ("cached", "recompute"):
        result, seconds = timed(
            lambda mode=mode: predict_sequences(model, sequences, ss3, batch_size, mode),
            repeats,
        )
        labels[mode] = [p.ss3 for p in result]
        out[f"{mode}_seconds"] = round(seconds, 3)
        out[f"{mode}_residues_per_s"] = round(residues / seconds, 1)
    out["speedup"] = round(out["recompute_seconds"] / out["cached_seconds"], 2)
    out["identical_greedy_labels"] = labels["cached"] == labels["recompute"]
    return out


def held_out_sequences(data_dir: Path | None, limit: int) -> tuple[list[str], str]:
    table = data_dir / "protein_structures" / "chains.parquet" if data_dir else None
    if table is not None and table.exists():
        chains = pd.read_parquet(table)
        test = chains[chains["split"] == "test"].head(limit)
        return list(test["sequence"]), f"{table} (test split, first {len(test)} chains)"
    return list(FALLBACK_SEQUENCES), "ubiquitin, lysozyme, BPTI (public sequences)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="protein checkpoint (default: random)")
    parser.add_argument("--data-dir", type=Path, help="built data sets (held-out chains)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--chains", type=int, default=8, help="held-out chains to label (8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed calls per case and mode (median; 3)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1: on a shared machine two threads mostly wait on "
        "each other in the many small ops of a decoding step)",
    )
    parser.add_argument(
        "--output", type=Path, default=Path("bench/results/protein_generation.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, config, source = load_model(args.checkpoint, args.seed)
    sequences, sequence_source = held_out_sequences(args.data_dir, args.chains)
    results: dict[str, Any] = {
        "model": source,
        "backbone": config.backbone.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "load_average_at_start": os.getloadavg(),
        "timing": f"median of {args.repeats} calls per case and mode, after a warm-up",
        "generation": [],
    }
    with torch.inference_mode():
        warm_up(model, config)
        for tokens in args.lengths:
            for batch in args.batches:
                case = generation_case(model, config, tokens, batch, args.repeats)
                print(json.dumps(case), flush=True)
                results["generation"].append(case)
        results["per_residue_prediction"] = {
            "sequence_source": sequence_source,
            **prediction_case(model, config, sequences, batch_size=64, repeats=args.repeats),
        }
    print(json.dumps(results["per_residue_prediction"]), flush=True)
    results["load_average_at_end"] = os.getloadavg()
    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
