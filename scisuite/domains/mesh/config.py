"""Configuration of the mesh domain: architecture, attention pattern, features, normalisers.

Two shipped architectures are one config class with different values:

* :func:`default_backbone` — the graph transformer (after Garnier et al. 2025, "Training
  Transformers for Mesh-Based Simulations"): sparse edge-list attention whose pattern is
  the mesh adjacency widened by K-hop neighbourhoods, dilated rings and global attention
  (selected boundary nodes and/or learned global tokens), in a few layers.
* :func:`mgn_baseline` — MeshGraphNets (Pfaff et al. 2021) from the same core: 15
  MGN-style edge+node message-passing steps, latent 128, no attention, no feed-forward.

Why the transformer keeps an MGN-style local branch (``local_mp="mgn"``): the core's sparse
attention scores ``q_i . k_j`` carry no edge term, so a pure attention stack sees the mesh
only as a topology and never the relative positions of neighbours (the direction of the
flow, the local element size). The local branch gives every layer the geometry through
edge states; the attention branch supplies what message passing lacks, a receptive field
of ``dilation * rings`` hops plus global context per layer, so 4 layers replace 15 and
the width can be halved. ``local_mp="none"`` (the pure transformer of the paper) is still
a valid config; it then gets no edge features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from scisuite.core.config import BackboneConfig, FrozenConfig, require

#: The generated data set (``sci data generate mesh cylinder-flow``, ``--dataset``).
DATASET_NAME = "cylinder-flow"
#: The generated data set with varied obstacles (circles, ellipses, rectangles, pairs of
#: cylinders; triangles held out), ``sci data generate mesh obstacle-flow``.
OBSTACLE_DATASET = "obstacle-flow"


#: Default cap on mesh nodes per record. Memory of one rollout step grows linearly with the
#: nodes (sparse attention and message passing are O(E)): the shipped model on CPU, one
#: thread, 2 steps, featurizing included, peaked 103 MiB above its loaded state for a
#: 3,600-node channel mesh and 349 MiB for 14,400 nodes (23 KiB per extra node; 25 KiB
#: with margin), so the default (~12 GiB) fits half of a 24 GiB machine. ``--max-nodes``
#: raises it for one run.
MEMORY_PER_NODE_KIB = 25.0
DEFAULT_MAX_NODES = 500_000
#: Default cap on rollout steps per record (``--steps``); each step is one model forward.
DEFAULT_MAX_ROLLOUT_STEPS = 10_000
#: Bytes a rollout holds per node and stored frame: the float32 ``(u, v, p)`` frames (12),
#: the row's float32 copy (12) and the float64 copy the XDMF writer makes (24).
FRAME_BYTES_PER_NODE_STEP = 48
#: Default cap on that memory per record, GiB (``--max-frames-gib``).
DEFAULT_MAX_FRAMES_GIB = 8.0
#: Training-domain ranges of the shipped mesh default, whose config.json predates them:
#: measured on its 26 training trajectories of the generated obstacle-flow data set (node
#: counts, peak inflow speed in m/s, larger bounding-box side in m).
SHIPPED_TRAIN_NODES = (1793.0, 1974.0)
SHIPPED_TRAIN_INFLOW_SPEED = (0.461, 1.928)
SHIPPED_TRAIN_EXTENT = (1.6, 1.6)


class NodeType(IntEnum):
    """MeshGraphNets node-type codes (the subset used for incompressible flow)."""

    NORMAL = 0
    INFLOW = 4
    OUTFLOW = 5
    WALL = 6


#: MeshGraphNets node-type codes in one-hot order (normal, inflow, outflow, wall).
NODE_TYPE_CODES = (0, 4, 5, 6)
#: Edge features: relative position ``(dx, dy)`` and length, m.
EDGE_DIM = 3
#: Output fields per node (the model predicts their normalised change over one step, or the
#: pressure itself when pressure is not an input).
OUTPUT_FIELDS = ("u", "v", "p")
#: First velocity column of the node features (after the node-type one-hot).
VELOCITY_START = len(NODE_TYPE_CODES)


def node_feature_dim(history: int, pressure_input: bool = True) -> int:
    """Width of the raw node features: node-type one-hot (4) + velocity at ``t, ..., t-history``
    (2 each) + pressure at ``t`` (1, when it is an input)."""
    return VELOCITY_START + 2 * (history + 1) + int(pressure_input)


@dataclass(frozen=True)
class PatternConfig(FrozenConfig):
    """Who attends to whom in the sparse attention (built once per mesh in the featurizer).

    The pattern is the union of (Garnier et al. 2025, section 3):

    * the mesh adjacency widened to ``khop`` hops (``khop=1``: adjacency; every node also
      attends to itself);
    * dilated rings: the nodes exactly ``dilation * k`` hops away, ``k = 1..rings``
      (``rings=0`` disables them) — the graph analogue of a dilated sliding window;
    * global nodes: ``global_nodes`` boundary nodes (evenly spread over the boundary)
      that attend to and are attended by every node of their mesh (0 disables them).

    Learned global tokens are a backbone setting (``BackboneConfig.global_tokens``).

    The default (adjacency + one ring at exactly 4 hops, ~30 pattern edges per node) gives
    4 layers a reach of 16 hops (MeshGraphNets' 15 steps reach 15) at 4-7x less inference
    time per step than the MGN baseline (1k-307k nodes, ``bench/mesh_scale.py``); two rings
    at 3 and 6 hops (~58 edges per node) reach further but cost ~35% more per step (10k
    nodes).

    Args:
        khop: hops of the local window (>= 1).
        dilation: hop stride of the dilated rings (>= 1).
        rings: number of dilated rings (>= 0).
        global_nodes: boundary nodes with global attention (>= 0).
    """

    khop: int = 1
    dilation: int = 4
    rings: int = 1
    global_nodes: int = 0

    def validate(self) -> None:
        require(self.khop >= 1, f"pattern.khop must be >= 1, got {self.khop}")
        require(self.dilation >= 1, f"pattern.dilation must be >= 1, got {self.dilation}")
        require(self.rings >= 0, f"pattern.rings must be >= 0, got {self.rings}")
        require(
            self.global_nodes >= 0, f"pattern.global_nodes must be >= 0, got {self.global_nodes}"
        )

    @property
    def max_hops(self) -> int:
        """Farthest hop distance the local part of the pattern reaches."""
        return max(self.khop, self.dilation * self.rings)


def default_backbone(history: int = 0, pressure_input: bool = True) -> BackboneConfig:
    """The graph transformer: 4 layers of (MGN-style local update || sparse attention) + FFN,
    width 64, 4 heads, 4 learned global tokens."""
    return BackboneConfig(
        d_model=64,
        num_heads=4,
        num_layers=4,
        ffn_multiplier=2,
        dropout=0.0,
        attention="sparse",
        local_mp="mgn",
        node_in_dim=node_feature_dim(history, pressure_input),
        edge_in_dim=EDGE_DIM,
        global_tokens=4,
    )


@dataclass(frozen=True)
class MeshConfig(FrozenConfig):
    """Everything needed to rebuild a mesh model, its featurizer and its integrator.

    Normaliser statistics are fitted on the training trajectories before optimisation
    (a streaming warm-up pass over the training frames; see
    :func:`scisuite.domains.mesh.features.fit_normalisers`) and stored here, so they travel
    in the checkpoint's ``config.json``. Defaults (mean 0, std 1) mean "not fitted".

    Args:
        backbone: the shared backbone (``node_in_dim`` must equal
            :func:`node_feature_dim` of ``history`` and ``pressure_input``; ``edge_in_dim`` 3
            or 0).
        pattern: the sparse attention pattern (ignored when ``backbone.attention="none"``).
        history: previous velocity frames added to the node features (0 = current only,
            as MeshGraphNets' CylinderFlow).
        pressure_input: pressure at ``t`` is a node feature and the model predicts its
            change, integrated like velocity (default). False is MeshGraphNets' CylinderFlow
            convention: velocity in, pressure after the step predicted directly (a global,
            elliptic quantity that a few message-passing hops recover poorly).
        noise_std: std of the Gaussian noise added during training to the inputs of normal
            nodes: velocity (m/s, MeshGraphNets: 0.02) and pressure (m^2/s^2, same value);
            targets are corrected so that the model learns to undo it.
        noise_std_end: the noise std at the end of training, reached linearly from
            ``noise_std`` (None: constant ``noise_std``).
        unroll_steps: pushforward training (Brandstetter et al. 2022): each training batch
            is first rolled forward ``k - 1`` steps by the model itself without gradient,
            then trained on the true state ``k`` frames ahead, so the model learns to
            correct the errors its own rollouts make; ``k`` is drawn per batch from
            ``1..K`` where ``K`` grows from 1 to ``unroll_steps`` (1: one-step training,
            the ablation).
        unroll_curriculum: fraction of the training steps over which ``K`` grows from 1
            to ``unroll_steps`` (0: the full range from the first step).
        frame_stride: stored frames one model step advances (a larger model step: fewer
            steps per simulated second, so faster rollouts and fewer chances to drift);
            ``dt`` is then ``frame_stride`` times the data's frame spacing.
        dt: time one model step advances, s (set from the data at training).
        rollout_steps: steps of an autoregressive prediction when the input does not say.
        velocity_mean, velocity_std: input velocity ``(u, v)`` normaliser, m/s (also used for
            the history frames).
        pressure_mean, pressure_std: input pressure normaliser, m^2/s^2.
        edge_mean, edge_std: edge feature ``(dx, dy, |d|)`` normaliser, m.
        target_mean, target_std: output normaliser for ``(du, dv, dp)`` (``p`` after the
            step without ``pressure_input``): the one-step changes, m/s and m^2/s^2.
        head_hidden: hidden width of the node decoder (0 = ``backbone.d_model``).
        max_nodes: resource limit: meshes with more nodes are refused with a per-record
            error (``--max-nodes`` raises it for one run; see :data:`DEFAULT_MAX_NODES`).
        max_rollout_steps: resource limit on ``--steps`` per record (``--max-steps``).
        max_frames_gib: resource limit on the predicted frames one record holds, GiB
            (nodes x (steps + 1) x :data:`FRAME_BYTES_PER_NODE_STEP`; ``--max-frames-gib``).
        train_nodes: ``(min, max)`` node count of the training meshes (applicability flags;
            set by the normaliser pass; the defaults are the shipped model's data).
        train_inflow_speed: ``(min, max)`` over training trajectories of the peak inflow
            speed, m/s.
        train_extent: ``(min, max)`` of the training meshes' bounding-box size (its larger
            side), m.
    """

    backbone: BackboneConfig = field(default_factory=default_backbone)
    pattern: PatternConfig = field(default_factory=PatternConfig)
    history: int = 0
    pressure_input: bool = True
    noise_std: float = 0.02
    noise_std_end: float | None = None
    unroll_steps: int = 1
    unroll_curriculum: float = 0.5
    frame_stride: int = 1
    dt: float = 0.01
    rollout_steps: int = 50
    velocity_mean: tuple[float, ...] = (0.0, 0.0)
    velocity_std: tuple[float, ...] = (1.0, 1.0)
    pressure_mean: tuple[float, ...] = (0.0,)
    pressure_std: tuple[float, ...] = (1.0,)
    edge_mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    edge_std: tuple[float, ...] = (1.0, 1.0, 1.0)
    target_mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    target_std: tuple[float, ...] = (1.0, 1.0, 1.0)
    head_hidden: int = 0
    max_nodes: int = field(default_factory=lambda: DEFAULT_MAX_NODES)
    max_rollout_steps: int = field(default_factory=lambda: DEFAULT_MAX_ROLLOUT_STEPS)
    max_frames_gib: float = field(default_factory=lambda: DEFAULT_MAX_FRAMES_GIB)
    train_nodes: tuple[float, ...] = SHIPPED_TRAIN_NODES
    train_inflow_speed: tuple[float, ...] = SHIPPED_TRAIN_INFLOW_SPEED
    train_extent: tuple[float, ...] = SHIPPED_TRAIN_EXTENT

    def validate(self) -> None:
        require(self.max_nodes >= 1, f"max_nodes must be >= 1, got {self.max_nodes}")
        require(
            self.max_rollout_steps >= 1,
            f"max_rollout_steps must be >= 1, got {self.max_rollout_steps}",
        )
        require(self.max_frames_gib > 0, f"max_frames_gib must be > 0, got {self.max_frames_gib}")
        for name in ("train_nodes", "train_inflow_speed", "train_extent"):
            values = getattr(self, name)
            require(
                len(values) == 2 and values[0] <= values[1],
                f"{name} must be (min, max), got {values}",
            )
        require(self.history >= 0, f"history must be >= 0, got {self.history}")
        require(self.noise_std >= 0, f"noise_std must be >= 0, got {self.noise_std}")
        require(
            self.noise_std_end is None or self.noise_std_end >= 0,
            f"noise_std_end must be >= 0 or None, got {self.noise_std_end}",
        )
        require(self.unroll_steps >= 1, f"unroll_steps must be >= 1, got {self.unroll_steps}")
        require(
            0 <= self.unroll_curriculum <= 1,
            f"unroll_curriculum must be in [0, 1], got {self.unroll_curriculum}",
        )
        require(self.dt > 0, f"dt must be positive, got {self.dt}")
        require(self.frame_stride >= 1, f"frame_stride must be >= 1, got {self.frame_stride}")
        require(self.rollout_steps >= 1, f"rollout_steps must be >= 1, got {self.rollout_steps}")
        require(self.head_hidden >= 0, "head_hidden must be >= 0 (0 = d_model)")
        for name, width in (
            ("velocity", 2),
            ("pressure", 1),
            ("edge", EDGE_DIM),
            ("target", len(OUTPUT_FIELDS)),
        ):
            mean, std = getattr(self, f"{name}_mean"), getattr(self, f"{name}_std")
            require(
                len(mean) == width and len(std) == width,
                f"{name}_mean and {name}_std need {width} values each",
            )
            require(all(s > 0 for s in std), f"{name}_std values must be positive, got {std}")
        backbone = self.backbone
        width = node_feature_dim(self.history, self.pressure_input)
        require(
            backbone.node_in_dim == width,
            f"backbone.node_in_dim must be {width} for history={self.history} and "
            f"pressure_input={self.pressure_input} (4 node types + 2 velocity components per "
            f"frame + 1 pressure), got {backbone.node_in_dim}",
        )
        require(
            backbone.edge_in_dim in (0, EDGE_DIM),
            f"backbone.edge_in_dim must be {EDGE_DIM} (dx, dy, |d|) or 0, got "
            f"{backbone.edge_in_dim}",
        )
        require(
            backbone.local_mp != "none" or backbone.edge_in_dim == 0,
            "without local message passing nothing reads edge features; set "
            "backbone.edge_in_dim=0 when local_mp='none'",
        )
        require(backbone.vocab_size == 0, "the mesh backbone takes node features, not tokens")
        require(
            backbone.attention in ("sparse", "none"),
            f"backbone.attention must be 'sparse' (edge-list, O(E) memory) or 'none' for "
            f"meshes, got {backbone.attention!r}",
        )
        require(
            backbone.position == "none" and backbone.lap_pe_dim == 0 and backbone.rw_pe_dim == 0,
            "mesh models use relative positions on edges; set position='none', lap_pe_dim=0 "
            "and rw_pe_dim=0",
        )

    @property
    def uses_attention(self) -> bool:
        """True when the model attends under a pattern (the featurizer then builds one)."""
        return self.backbone.attention != "none"

    @property
    def uses_edges(self) -> bool:
        """True when the model reads edge features."""
        return self.backbone.edge_in_dim > 0

    def noise_at(self, fraction: float) -> float:
        """Training-noise std at ``fraction`` of the run, m/s (and m^2/s^2)."""
        if self.noise_std_end is None:
            return self.noise_std
        return self.noise_std + (self.noise_std_end - self.noise_std) * fraction

    def max_unroll_at(self, fraction: float) -> int:
        """Largest pushforward depth ``K`` at ``fraction`` of the run (the curriculum)."""
        if self.unroll_curriculum <= 0:
            return self.unroll_steps
        grown = min(fraction / self.unroll_curriculum, 1.0)
        return 1 + int(round((self.unroll_steps - 1) * grown))

    @property
    def pressure_column(self) -> int | None:
        """Node-feature column of the input pressure (None without ``pressure_input``)."""
        return VELOCITY_START + 2 * (self.history + 1) if self.pressure_input else None


def transformer_config(history: int = 0, pressure_input: bool = True) -> MeshConfig:
    """The default graph transformer (unfitted normalisers)."""
    return MeshConfig(
        backbone=default_backbone(history, pressure_input),
        history=history,
        pressure_input=pressure_input,
    )


def mgn_baseline(history: int = 0, pressure_input: bool = True) -> MeshConfig:
    """MeshGraphNets (Pfaff et al. 2021) from the same core: 15 MGN processor steps, latent
    128, sum aggregation, no attention and no feed-forward block (unfitted normalisers).
    Same features as the transformer; ``pressure_input=False`` is the paper's CylinderFlow
    setting."""
    backbone = BackboneConfig(
        d_model=128,
        num_heads=4,
        num_layers=15,
        ffn_multiplier=0,
        dropout=0.0,
        attention="none",
        local_mp="mgn",
        node_in_dim=node_feature_dim(history, pressure_input),
        edge_in_dim=EDGE_DIM,
        global_tokens=0,
    )
    return MeshConfig(backbone=backbone, history=history, pressure_input=pressure_input)


#: ``--model`` choices of ``sci train --domain mesh``.
MODEL_PRESETS = {"transformer": transformer_config, "mgn": mgn_baseline}
