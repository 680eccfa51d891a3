"""Score a large file with scisuite in resumable shards: copy this script and adapt it.

The input is streamed once and cut into shards of ``--shard-size`` records; each shard is
scored and written atomically as a Parquet part file next to a manifest, so that if the job
dies (kill -9, OOM killer, pre-empted node) running the same command again continues where it
stopped: finished shards are checked against their checksums and reused, and only the missing
ones are scored. The output is assembled in input order at the end (one row per input record,
bad records included with ``status=error``), or left as a Parquet data set when ``-o`` is a
directory. Memory stays at one shard whatever the input size.

Examples::

    # 1.5M SMILES to one Parquet file, 2 featurisation processes; rerun it after a crash
    python examples/batch_score.py molecule smiles.csv -o scores.parquet --workers 2

    # a FASTA file to a Parquet data set directory (pandas / pyarrow / Polars / Spark read it)
    python examples/batch_score.py protein uniprot.fasta -o scores/ --shard-size 5000

    # your own checkpoint, start afresh instead of resuming
    python examples/batch_score.py molecule mols.smi -o out.csv --checkpoint ckpt/ --fresh

    # 4 processes (GPUs or CPU ranks) through Lightning DDP, still resumable; under SLURM,
    # `srun python examples/batch_score.py ... --devices 4 --num-nodes 2` on a shared disk
    python examples/batch_score.py molecule smiles.csv -o scores.parquet --devices 4

The same job from the command line: ``sci predict --domain molecule smiles.csv -o
scores.parquet --resume --shard-size 10000 --num-workers 2``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scisuite import api


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("domain", help="molecule, protein or mesh")
    parser.add_argument("input", type=Path, help="input file (CSV/SMILES/SDF, FASTA, ...)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="table or directory")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint (default: shipped weights)")
    parser.add_argument("--shard-size", type=int, default=10_000, help="records per part")
    parser.add_argument("--batch-size", type=int, default=64, help="records per model batch")
    parser.add_argument("--workers", type=int, default=0, help="featurisation processes (0)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--devices", type=int, default=1, help="processes per node (1)")
    parser.add_argument("--num-nodes", type=int, default=1, help="machines (1)")
    parser.add_argument("--fresh", action="store_true", help="ignore earlier parts")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    try:
        summary = api.predict_sharded(
            args.domain,
            args.input,
            args.output,
            checkpoint=args.checkpoint,
            shard_size=args.shard_size,
            resume=not args.fresh,
            batch_size=args.batch_size,
            num_workers=args.workers,
            device=args.device,
            progress=False if args.quiet else None,
            devices=args.devices,
            num_nodes=args.num_nodes,
            strategy="ddp" if args.devices > 1 or args.num_nodes > 1 else "auto",
        )
    except api.ResumeError as error:  # the parts on disk belong to another job
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not api.is_global_zero():  # every rank returns the same summary; one prints it
        return 0
    print(
        f"{summary.rows} rows ({summary.errors} with errors) -> {summary.path}; "
        f"{len(summary.scored)} shards scored, {len(summary.reused)} reused "
        f"in {summary.seconds:.1f} s",
        file=sys.stderr,
    )
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


# The guard matters: featurisation workers are started with "spawn" and import this file.
if __name__ == "__main__":
    sys.exit(main())
