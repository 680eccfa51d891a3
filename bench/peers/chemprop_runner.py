"""Train and predict with chemprop v2 through its CLI, measured from the outside.

chemprop runs in its own virtual environment (``bench/.venv-chemprop``, made by
``bench/envs/setup_chemprop.sh``), so this module never imports it: it builds
``chemprop train`` / ``chemprop predict`` command lines, runs them as child processes and
measures each one the same way the harness measures every other method:

- wall time: :func:`time.perf_counter` from spawn to exit (includes interpreter start-up
  and imports, as a user of the CLI would see);
- peak memory: the largest sum of RSS over the child's whole process tree, polled with
  psutil, cross-checked with ``getrusage(RUSAGE_CHILDREN).ru_maxrss``.

Model: chemprop's defaults (D-MPNN with bond messages, hidden size 300, depth 3, dropout 0,
``norm`` aggregation (sum / 100), one FFN layer of 300, 50 epochs, 2 warm-up epochs and LR
1e-4 -> 1e-3 -> 1e-4, best epoch by validation loss). Only plumbing flags are set; see
:func:`train_command` for the list.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psutil

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


class PeerRunError(RuntimeError):
    """A peer command failed or produced unusable output; the message says where to look."""


@dataclass(frozen=True)
class MeasuredRun:
    """One child process, measured.

    Attributes:
        command: the argv that was run.
        returncode: exit status (0 = success).
        wall_s: seconds from spawn to exit.
        peak_rss_bytes: largest summed RSS of the process tree seen (bytes).
        log_path: file holding the child's stdout and stderr.
    """

    command: tuple[str, ...]
    returncode: int
    wall_s: float
    peak_rss_bytes: int
    log_path: Path

    def log_tail(self, n_lines: int = 25) -> str:
        """Last ``n_lines`` lines of the child's log (empty string if unreadable)."""
        try:
            lines = self.log_path.read_text(errors="replace").replace("\r", "\n").splitlines()
        except OSError:
            return ""
        return "\n".join(line for line in lines[-n_lines:] if line.strip())

    def check(self, what: str) -> None:
        """Raise :class:`PeerRunError` if the child failed.

        Args:
            what: short description for the message (``"chemprop train"``).
        """
        if self.returncode != 0:
            raise PeerRunError(
                f"{what} exited with status {self.returncode}; full log: {self.log_path}\n"
                f"{self.log_tail()}"
            )


def thread_env(threads: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child limited to ``threads`` intra-op threads (torch, BLAS, OpenMP).

    Args:
        threads: thread count (>= 1).
        base: environment to start from (default: a copy of ``os.environ``, read when called).
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    env = dict(os.environ if base is None else base)
    for name in THREAD_ENV_VARS:
        env[name] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _tree_rss(process: psutil.Process) -> int:
    """Summed RSS (bytes) of ``process`` and all its descendants; 0 if it is gone."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def run_measured(
    command: Sequence[str | os.PathLike[str]],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    poll_interval_s: float = 0.1,
    timeout_s: float | None = None,
) -> MeasuredRun:
    """Run ``command`` to completion, measuring wall time and peak tree RSS.

    Args:
        command: argv; the first element is the executable.
        log_path: file that receives the child's stdout and stderr (overwritten).
        env: environment for the child (default: inherited).
        cwd: working directory for the child (default: inherited).
        poll_interval_s: seconds between RSS samples (0.1).
        timeout_s: kill the child tree after this many seconds (None = no limit).

    Raises:
        PeerRunError: the executable could not be started, or the run timed out.
    """
    argv = tuple(str(part) for part in command)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    before_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak = 0
    with log_path.open("wb") as log:
        start = time.perf_counter()
        try:
            child = psutil.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )
        except OSError as error:
            raise PeerRunError(f"could not start {argv[0]!r}: {error}") from error
        try:
            while True:
                peak = max(peak, _tree_rss(child))
                try:
                    returncode = child.wait(timeout=poll_interval_s)
                    break
                except psutil.TimeoutExpired:
                    pass
                if timeout_s is not None and time.perf_counter() - start > timeout_s:
                    _kill_tree(child)
                    raise PeerRunError(
                        f"{argv[0]} ran past {timeout_s:.0f} s and was stopped; log: {log_path}"
                    )
        except BaseException:
            _kill_tree(child)
            raise
        wall = time.perf_counter() - start
    after_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss (KiB on Linux) is the maximum over every waited-for descendant so far; it
    # only tells us about this child when it rose during the run.
    if after_kb > before_kb:
        peak = max(peak, after_kb * 1024)
    return MeasuredRun(argv, returncode, wall, peak, log_path)


def _kill_tree(process: psutil.Process) -> None:
    """Kill ``process`` and its descendants (only the tree this module started)."""
    try:
        members = [*process.children(recursive=True), process]
    except psutil.NoSuchProcess:
        return
    for member in members:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(members, timeout=10)


@dataclass(frozen=True)
class ChempropSettings:
    """How to call chemprop.

    Attributes:
        venv_dir: the peer virtual environment (holds ``bin/chemprop``).
        epochs: training epochs (chemprop default 50).
        train_batch_size: training batch size (chemprop default 64).
        threads: intra-op threads for torch/BLAS in the child.
        extra_train_args: further ``chemprop train`` flags, appended verbatim (default none).
        timeout_s: per-command time limit in seconds (None = no limit).
    """

    venv_dir: Path
    epochs: int = 50
    train_batch_size: int = 64
    threads: int = 1
    extra_train_args: tuple[str, ...] = field(default_factory=tuple)
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.train_batch_size < 1:
            raise ValueError(f"train_batch_size must be >= 1, got {self.train_batch_size}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")

    @property
    def executable(self) -> Path:
        """``VENV/bin/chemprop``."""
        return self.venv_dir.absolute() / "bin" / "chemprop"

    @property
    def python(self) -> Path:
        """``VENV/bin/python``."""
        return self.venv_dir.absolute() / "bin" / "python"

    def require(self) -> None:
        """Raise :class:`PeerRunError` if the chemprop environment is missing."""
        if not self.executable.exists():
            raise PeerRunError(
                f"{self.executable} not found; create the peer environment with "
                "`bash bench/envs/setup_chemprop.sh`"
            )


@dataclass(frozen=True)
class ChempropTrainResult:
    """A trained chemprop model.

    Attributes:
        model_path: the saved model (``OUTPUT/model_0/best.pt``).
        run: wall time, peak memory and log of ``chemprop train``.
    """

    model_path: Path
    run: MeasuredRun


@dataclass(frozen=True)
class ChempropPredictResult:
    """Predictions from a chemprop model.

    Attributes:
        predictions: one row per input row, columns as in the input file with each target
            column holding the prediction.
        run: wall time, peak memory and log of ``chemprop predict``.
    """

    predictions: pd.DataFrame
    run: MeasuredRun


def chemprop_version(settings: ChempropSettings) -> str:
    """Installed chemprop version in the peer environment (e.g. ``"2.3.1"``)."""
    settings.require()
    result = subprocess.run(
        [
            str(settings.python),
            "-c",
            "import importlib.metadata as m; print(m.version('chemprop'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PeerRunError(f"could not read chemprop's version: {result.stderr.strip()}")
    return result.stdout.strip()


def train_command(
    train_csv: Path,
    val_csv: Path,
    test_csv: Path,
    output_dir: Path,
    *,
    smiles_column: str,
    target_columns: Sequence[str],
    seed: int,
    settings: ChempropSettings,
) -> list[str]:
    """The ``chemprop train`` argv: three files, so chemprop does no splitting of its own.

    Flags set (all else is chemprop's default model and schedule):
    ``--data-path TRAIN VAL TEST --smiles-columns S --target-columns T... --task-type
    regression --epochs E --batch-size B --data-seed SEED --pytorch-seed SEED --num-workers 0
    --accelerator cpu --devices 1 --remove-checkpoints --output-dir OUT``.
    """
    return [
        str(settings.executable),
        "train",
        "--data-path",
        str(train_csv.absolute()),
        str(val_csv.absolute()),
        str(test_csv.absolute()),
        "--smiles-columns",
        smiles_column,
        "--target-columns",
        *target_columns,
        "--task-type",
        "regression",
        "--epochs",
        str(settings.epochs),
        "--batch-size",
        str(settings.train_batch_size),
        "--data-seed",
        str(seed),
        "--pytorch-seed",
        str(seed),
        "--num-workers",
        "0",
        "--accelerator",
        "cpu",
        "--devices",
        "1",
        "--remove-checkpoints",
        "--output-dir",
        str(output_dir.absolute()),
        *settings.extra_train_args,
    ]


def predict_command(
    model_path: Path,
    input_csv: Path,
    output_csv: Path,
    *,
    smiles_column: str,
    batch_size: int,
    settings: ChempropSettings,
    num_workers: int = 0,
) -> list[str]:
    """The ``chemprop predict`` argv (CPU; ``num_workers`` data-loading workers)."""
    return [
        str(settings.executable),
        "predict",
        "--test-path",
        str(input_csv.absolute()),
        "--model-paths",
        str(model_path.absolute()),
        "--smiles-columns",
        smiles_column,
        "--output",
        str(output_csv.absolute()),
        "--batch-size",
        str(batch_size),
        "--num-workers",
        str(num_workers),
        "--accelerator",
        "cpu",
        "--devices",
        "1",
    ]


def train(
    train_csv: Path,
    val_csv: Path,
    test_csv: Path,
    output_dir: Path,
    *,
    smiles_column: str = "smiles",
    target_columns: Sequence[str] = ("target",),
    seed: int = 0,
    settings: ChempropSettings,
) -> ChempropTrainResult:
    """Train one chemprop model on fixed train/val/test files.

    The test file is only evaluated by chemprop itself at the end of training (its own
    ``model_0/test_predictions.csv``); the benchmark's test predictions come from
    :func:`predict` so that prediction is timed separately.

    Args:
        train_csv: training rows (``smiles_column`` plus ``target_columns``).
        val_csv: validation rows (best epoch by validation loss).
        test_csv: test rows.
        output_dir: chemprop's output directory (created).
        smiles_column: SMILES column name ("smiles").
        target_columns: target column names (("target",)).
        seed: used for both ``--data-seed`` (batch shuffling) and ``--pytorch-seed``.
        settings: executable, epochs, threads.

    Raises:
        PeerRunError: chemprop failed or saved no model.
    """
    settings.require()
    output_dir.mkdir(parents=True, exist_ok=True)
    command = train_command(
        train_csv,
        val_csv,
        test_csv,
        output_dir,
        smiles_column=smiles_column,
        target_columns=target_columns,
        seed=seed,
        settings=settings,
    )
    run = run_measured(
        command,
        log_path=output_dir / "train.log",
        env=thread_env(settings.threads),
        cwd=output_dir,
        timeout_s=settings.timeout_s,
    )
    run.check("chemprop train")
    model_path = output_dir / "model_0" / "best.pt"
    if not model_path.exists():
        found = sorted(output_dir.rglob("best*.pt"))
        if not found:
            raise PeerRunError(
                f"chemprop train finished but saved no best.pt under {output_dir}; "
                f"log: {run.log_path}"
            )
        model_path = found[0]
    return ChempropTrainResult(model_path, run)


def predict(
    model_path: Path,
    input_csv: Path,
    output_csv: Path,
    *,
    smiles_column: str = "smiles",
    batch_size: int = 256,
    settings: ChempropSettings,
    expected_rows: int | None = None,
) -> ChempropPredictResult:
    """Predict with a trained chemprop model.

    Args:
        model_path: ``best.pt`` from :func:`train`.
        input_csv: rows to score (must contain ``smiles_column``).
        output_csv: where chemprop writes predictions.
        smiles_column: SMILES column name ("smiles").
        batch_size: prediction batch size (256).
        settings: executable and threads.
        expected_rows: if given, the number of output rows that must come back.

    Raises:
        PeerRunError: chemprop failed, or the output is missing or has the wrong length.
    """
    settings.require()
    output_csv.parent.mkdir(parents=True, exist_ok=True)
    command = predict_command(
        model_path,
        input_csv,
        output_csv,
        smiles_column=smiles_column,
        batch_size=batch_size,
        settings=settings,
    )
    run = run_measured(
        command,
        log_path=output_csv.with_suffix(".log"),
        env=thread_env(settings.threads),
        cwd=output_csv.parent,
        timeout_s=settings.timeout_s,
    )
    run.check("chemprop predict")
    if not output_csv.exists():
        raise PeerRunError(f"chemprop predict wrote no {output_csv}; log: {run.log_path}")
    predictions = pd.read_csv(output_csv)
    if expected_rows is not None and len(predictions) != expected_rows:
        raise PeerRunError(
            f"chemprop predict returned {len(predictions)} rows for {expected_rows} inputs "
            f"({output_csv}); log: {run.log_path}"
        )
    return ChempropPredictResult(predictions, run)


@dataclass(frozen=True)
class ChempropOutcome:
    """Everything the benchmark records for one chemprop train + test-set predict.

    Attributes:
        predictions: test predictions, one per test row, in input order: ``[n_test, n_targets]``.
        train_wall_s: seconds for ``chemprop train`` (spawn to exit).
        predict_wall_s: seconds for ``chemprop predict`` on the test file.
        train_peak_rss_bytes: peak RSS of the training process tree.
        predict_peak_rss_bytes: peak RSS of the prediction process tree.
        model_path: the trained model, for reuse (e.g. throughput runs).
        train_command: argv of the training run.
        predict_command: argv of the prediction run.
    """

    predictions: pd.DataFrame
    train_wall_s: float
    predict_wall_s: float
    train_peak_rss_bytes: int
    predict_peak_rss_bytes: int
    model_path: Path
    train_command: tuple[str, ...]
    predict_command: tuple[str, ...]


def train_and_predict(
    train_csv: Path,
    val_csv: Path,
    test_csv: Path,
    work_dir: Path,
    *,
    smiles_column: str = "smiles",
    target_columns: Sequence[str] = ("target",),
    seed: int = 0,
    predict_batch_size: int = 256,
    settings: ChempropSettings,
) -> ChempropOutcome:
    """Train on ``train_csv``/``val_csv`` and predict ``test_csv``; see :func:`train`.

    Args:
        train_csv: training rows.
        val_csv: validation rows.
        test_csv: test rows (targets may be present; only SMILES are used to predict).
        work_dir: holds ``model/`` (chemprop output) and ``test_preds.csv``.
        smiles_column: SMILES column name ("smiles").
        target_columns: target column names (("target",)).
        seed: data and torch seed.
        predict_batch_size: batch size for prediction (256).
        settings: executable, epochs, threads.

    Raises:
        PeerRunError: a chemprop command failed or returned unusable output.
    """
    trained = train(
        train_csv,
        val_csv,
        test_csv,
        work_dir / "model",
        smiles_column=smiles_column,
        target_columns=target_columns,
        seed=seed,
        settings=settings,
    )
    n_test = len(pd.read_csv(test_csv, usecols=[smiles_column]))
    predicted = predict(
        trained.model_path,
        test_csv,
        work_dir / "test_preds.csv",
        smiles_column=smiles_column,
        batch_size=predict_batch_size,
        settings=settings,
        expected_rows=n_test,
    )
    missing = [c for c in target_columns if c not in predicted.predictions.columns]
    if missing:
        raise PeerRunError(
            f"chemprop predictions lack columns {missing}; got {list(predicted.predictions)}"
        )
    return ChempropOutcome(
        predictions=predicted.predictions[list(target_columns)],
        train_wall_s=trained.run.wall_s,
        predict_wall_s=predicted.run.wall_s,
        train_peak_rss_bytes=trained.run.peak_rss_bytes,
        predict_peak_rss_bytes=predicted.run.peak_rss_bytes,
        model_path=trained.model_path,
        train_command=trained.run.command,
        predict_command=predicted.run.command,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Manual check: ``python chemprop_runner.py VENV TRAIN VAL TEST WORK_DIR [EPOCHS]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (5, 6):
        print("usage: chemprop_runner.py VENV TRAIN.csv VAL.csv TEST.csv WORK_DIR [EPOCHS]")
        return 2
    venv, train_csv, val_csv, test_csv, work = (Path(a) for a in args[:5])
    epochs = int(args[5]) if len(args) == 6 else 50
    settings = ChempropSettings(venv_dir=venv, epochs=epochs)
    outcome = train_and_predict(train_csv, val_csv, test_csv, work, settings=settings)
    print(
        f"chemprop {chemprop_version(settings)}: train {outcome.train_wall_s:.1f} s "
        f"(peak {outcome.train_peak_rss_bytes / 2**20:.0f} MiB), predict "
        f"{outcome.predict_wall_s:.1f} s (peak {outcome.predict_peak_rss_bytes / 2**20:.0f} MiB), "
        f"{len(outcome.predictions)} predictions"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
