"""Configuration of the protein domain: architecture, prompt grammar, context, task mix.

Long-sequence policy (``long_sequence_policy``), the same for prediction and evaluation:

- ``"chunk"`` (default): a sequence whose per-residue prompt does not fit in
  ``max_length`` tokens is predicted in overlapping windows of at most
  :meth:`ProteinConfig.residue_window` residues (neighbours share ``window_overlap``
  residues; each residue takes its label from the window where it is furthest from an
  edge); the ``notes`` column says how many windows were used. Nothing is truncated.
- ``"refuse"``: such a sequence gets an error row naming its length and the limit.

Either way sequences longer than ``max_sequence_length`` residues are refused with an
error row, and antimicrobial / anticancer probabilities are reported only for sequences of
at most ``peptide_max_length`` residues (the peptide data go up to 174; longer inputs get
an empty value and a note, not an extrapolation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from scisuite.core.config import BackboneConfig, FrozenConfig, check_choice, require
from scisuite.domains.protein.applicability import PeptideDomain
from scisuite.domains.protein.prompts import (
    FORWARD_TASKS,
    TASK_NAMES,
    PromptGrammar,
    per_residue_window,
)
from scisuite.domains.protein.tokenizer import VOCAB_SIZE

#: Tasks of the shipped default (solubility needs user data: none ships offline).
DEFAULT_TASKS = (
    "ss3",
    "ss8",
    "content",
    "amp",
    "acp",
    "continue",
    "design_ss3",
    "design_content",
    "design_amp",
    "design_prefix",
)
#: Relative examples per epoch of each default task (see ``ProteinConfig.task_weights``).
DEFAULT_TASK_WEIGHTS = (2.0, 1.0, 1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 0.5, 0.5)
#: Forward tasks run by ``sci predict``.
PREDICT_TASKS = ("ss3", "ss8", "amp", "acp")
#: Structure tasks that can also train on teacher DSSP3 labels (``pseudo_ss_tasks``).
PSEUDO_SS_TASKS = ("ss3", "content", "design_ss3", "design_content")


def default_backbone() -> BackboneConfig:
    """Decoder-only, causal, with attention-graph propagation (2 hops), rotary positions."""
    return BackboneConfig(
        d_model=128,
        num_heads=4,
        num_layers=4,
        ffn_multiplier=2,
        dropout=0.1,
        attention="dense",
        position="rotary",
        propagation_hops=2,
        vocab_size=VOCAB_SIZE,
    )


@dataclass(frozen=True)
class ProteinConfig(FrozenConfig):
    """Everything needed to rebuild a protein model, its prompts and its data mix.

    Args:
        backbone: the shared backbone (token input, causal dense attention, propagation).
        grammar: how tasks are written as text.
        max_length: tokens per example (bos to eos) in training and per window at inference.
        long_sequence_policy: ``"chunk"`` or ``"refuse"`` (module docstring).
        window_overlap: residues shared by neighbouring windows under ``"chunk"``.
        max_sequence_length: longer sequences are refused under either policy.
        peptide_max_length: longest sequence given an antimicrobial / anticancer probability.
        tasks: tasks in the training mix.
        task_weights: per task, examples per epoch relative to its source: structure tasks
            x (windows covering every training chain once), peptide tasks x (labelled
            peptides), UniProt tasks x ``uniprot_examples``. Fractions subsample (seeded),
            values above 1 add more random windows / repeats.
        predict_tasks: forward tasks ``sci predict`` runs.
        answer_noise: fraction of the label tokens of ``ss3`` / ``ss8`` answers replaced by a
            random label in training inputs (targets unchanged), against exposure bias: a model
            trained on clean labels learns to copy its previous label (DSSP3 repeats the
            previous label 83% of the time) and then drifts when decoding freely; 1.0 makes
            each label depend on the sequence only.
        uniprot_examples: UniProt sequences drawn per UniProt task and epoch.
        continue_length: residues the ``continue`` task predicts.
        prefix_length: longest prefix of ``continue`` / ``design_prefix`` prompts.
        design_min_length, design_max_length: default residue range of free-length designs.
        bucket_tokens: training / validation graphs hold several examples of similar length,
            up to this many padded tokens (train with ``--batch-size 1``: one bucket per
            step cuts attention padding several-fold on CPU); 0 = one example per graph.
        train_peptide_length: ``(min, max)`` length of the training peptides of the ``amp``
            / ``acp`` tasks; a probability given outside it is flagged in the
            ``applicability`` column. Set at training; the default is the shipped model's
            documented peptide range (modlamp 4.3.3 sets, 7-174 residues).
        train_max_chain_length: longest training chain of the structure tasks (0: unknown,
            no flag; the shipped default predates it, and its windows of at most 82
            residues make chain length matter less than for a whole-chain model).
        peptide_calibration: ``(amp slope, amp intercept, acp slope, acp intercept)``: an
            activity probability ``p`` is reported as ``sigmoid(slope logit(p) +
            intercept)`` (Platt scaling, ``calibration.py``); fitted on the validation
            peptides at the end of training; ``(1, 0, 1, 0)`` = uncalibrated.
        pseudo_ss_tasks: structure tasks (of ``tasks``) that also draw *training* examples
            from the teacher-labelled UniProt sequences (``pseudo_labels.py``; built by ``sci
            data generate protein pseudo-ss``), e.g. ``("design_content",)``; () = none.
        pseudo_ss_weight: windows per pseudo-labelled sequence and epoch, relative to the
            task's weight on a real chain (fractions subsample).
        amp_domain, acp_domain: the applicability domain of each activity probability
            (``applicability.py``: the training peptides, their length and composition
            ranges, identity thresholds); set at training. None (checkpoints before it):
            only ``train_peptide_length`` is checked.
    """

    backbone: BackboneConfig = field(default_factory=default_backbone)
    grammar: PromptGrammar = field(default_factory=PromptGrammar)
    max_length: int = 256
    long_sequence_policy: str = "chunk"
    window_overlap: int = 32
    max_sequence_length: int = 100_000
    peptide_max_length: int = 200
    tasks: tuple[str, ...] = DEFAULT_TASKS
    task_weights: tuple[float, ...] = DEFAULT_TASK_WEIGHTS
    predict_tasks: tuple[str, ...] = PREDICT_TASKS
    answer_noise: float = 1.0
    uniprot_examples: int = 1000
    continue_length: int = 32
    prefix_length: int = 32
    design_min_length: int = 40
    design_max_length: int = 120
    bucket_tokens: int = 0
    train_peptide_length: tuple[int, ...] = (7, 174)
    train_max_chain_length: int = 0
    peptide_calibration: tuple[float, ...] = (1.0, 0.0, 1.0, 0.0)
    pseudo_ss_tasks: tuple[str, ...] = ()
    pseudo_ss_weight: float = 1.0
    amp_domain: PeptideDomain | None = None
    acp_domain: PeptideDomain | None = None

    def platt(self, task: str) -> tuple[float, float]:
        """``(slope, intercept)`` of the calibration of ``"amp"`` or ``"acp"``."""
        index = 2 * ("amp", "acp").index(task)
        slope, intercept = self.peptide_calibration[index : index + 2]
        return slope, intercept

    def peptide_domain(self, task: str) -> PeptideDomain | None:
        """The applicability domain of ``"amp"`` or ``"acp"`` (None: not recorded)."""
        return self.amp_domain if task == "amp" else self.acp_domain

    def validate(self) -> None:
        values = self.peptide_calibration
        require(
            len(values) == 4 and all(map(math.isfinite, values)) and min(values[::2]) > 0,
            "peptide_calibration must be 4 finite numbers (amp slope > 0, amp intercept, acp "
            f"slope > 0, acp intercept), got {values}",
        )
        require(
            len(self.train_peptide_length) == 2
            and 1 <= self.train_peptide_length[0] <= self.train_peptide_length[1],
            f"train_peptide_length must be (min, max), got {self.train_peptide_length}",
        )
        require(self.train_max_chain_length >= 0, "train_max_chain_length must be >= 0")
        require(
            self.backbone.vocab_size == VOCAB_SIZE,
            f"the protein backbone reads byte tokens: vocab_size must be {VOCAB_SIZE}",
        )
        require(self.backbone.attention == "dense", "the protein model uses attention='dense'")
        require(self.backbone.local_mp == "none", "the protein model has no local message passing")
        require(
            self.backbone.lap_pe_dim == 0 and self.backbone.rw_pe_dim == 0,
            "graph encodings do not apply to token sequences",
        )
        require(self.backbone.global_tokens == 0, "global tokens do not apply to causal decoding")
        require(self.max_length >= 32, f"max_length must be >= 32 tokens, got {self.max_length}")
        require(
            self.backbone.position != "sinusoidal"
            or self.max_length <= self.backbone.max_positions,
            "max_length exceeds the sinusoidal table (backbone.max_positions)",
        )
        check_choice("long_sequence_policy", self.long_sequence_policy, ("chunk", "refuse"))
        window = self.residue_window()
        require(window >= 8, f"max_length={self.max_length} leaves a window of {window} residues")
        require(
            0 <= self.window_overlap <= window // 2,
            f"window_overlap must be in 0..{window // 2} (half the {window}-residue window)",
        )
        require(self.max_sequence_length >= 1, "max_sequence_length must be >= 1")
        require(self.peptide_max_length >= 1, "peptide_max_length must be >= 1")
        unknown = sorted(set(self.tasks) - set(TASK_NAMES))
        require(not unknown, f"unknown task(s) {unknown}; tasks are {list(TASK_NAMES)}")
        require(len(set(self.tasks)) == len(self.tasks) and self.tasks, "tasks must be unique")
        require(
            len(self.task_weights) == len(self.tasks),
            f"task_weights needs one weight per task ({len(self.tasks)}), "
            f"got {len(self.task_weights)}",
        )
        require(all(w > 0 for w in self.task_weights), "task weights must be positive")
        pseudo = set(self.pseudo_ss_tasks)
        require(
            pseudo <= set(self.tasks) and pseudo <= set(PSEUDO_SS_TASKS),
            f"pseudo_ss_tasks must be training tasks among {list(PSEUDO_SS_TASKS)}, "
            f"got {list(self.pseudo_ss_tasks)}",
        )
        require(self.pseudo_ss_weight > 0, "pseudo_ss_weight must be positive")
        bad = sorted(set(self.predict_tasks) - set(FORWARD_TASKS))
        require(not bad, f"predict_tasks must be forward tasks, got {bad}")
        require(0.0 <= self.answer_noise <= 1.0, "answer_noise must be in [0, 1]")
        require(self.uniprot_examples >= 1, "uniprot_examples must be >= 1")
        require(self.continue_length >= 1 and self.prefix_length >= 1, "lengths must be >= 1")
        require(
            1 <= self.design_min_length <= self.design_max_length,
            "need 1 <= design_min_length <= design_max_length",
        )
        longest = (
            self.design_max_length
            + self.grammar.prompt_overhead("design_prefix")
            + (self.prefix_length)
        )
        require(
            longest <= self.max_length,
            f"design_max_length={self.design_max_length} does not fit in max_length",
        )

    def residue_window(self) -> int:
        """Most residues per window of a per-residue task (``ss3``/``ss8``)."""
        return min(
            per_residue_window(self.grammar, "ss3", self.max_length),
            per_residue_window(self.grammar, "ss8", self.max_length),
        )

    def task_weight(self, task: str) -> float:
        return dict(zip(self.tasks, self.task_weights, strict=True)).get(task, 0.0)
