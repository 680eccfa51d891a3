"""The mesh domain plugin: learned CFD on triangle meshes (graph transformer or MeshGraphNets).

A wiring table; each stage lives in the module named for it:

* inputs (:mod:`~scisuite.domains.mesh.readers`): MeshGraphNets-style H5 trajectories (a
  file or a generated directory, :mod:`~scisuite.domains.mesh.h5`), XDMF time series
  (:mod:`~scisuite.domains.mesh.xdmf`), or a single mesh meshio reads (VTU, VTK, ``.msh``,
  ...; :mod:`~scisuite.domains.mesh.io`) with point fields ``velocity``, ``pressure`` and
  ``node_type`` (or boundary tags);
* the task (:mod:`~scisuite.domains.mesh.task`): an autoregressive rollout of ``--steps``
  steps from the input state (an H5/XDMF trajectory starts at its first usable frame); each
  output row summarises one rollout (:mod:`~scisuite.domains.mesh.postprocess`), and the
  ``.xdmf`` writer streams the predicted fields as a ParaView time series;
* training and evaluation data (:mod:`~scisuite.domains.mesh.training_data`), reports
  (:mod:`~scisuite.domains.mesh.report`), examples (:mod:`~scisuite.domains.mesh.examples`)
  and data generation (:mod:`~scisuite.domains.mesh.commands`).
"""

from __future__ import annotations

from scisuite.core.plugin import (
    CliOption,
    Commands,
    DomainPlugin,
    Examples,
    RecordIO,
)
from scisuite.domains.mesh import commands, examples
from scisuite.domains.mesh.config import (
    DATASET_NAME,
    DEFAULT_MAX_FRAMES_GIB,
    DEFAULT_MAX_NODES,
    DEFAULT_MAX_ROLLOUT_STEPS,
    MeshConfig,
)
from scisuite.domains.mesh.readers import READERS, echo_columns, records_from_objects
from scisuite.domains.mesh.report import MeshReports
from scisuite.domains.mesh.task import MeshTask
from scisuite.domains.mesh.training_data import DEFAULT_DATASET_DIR, MeshData
from scisuite.domains.mesh.xdmf import XdmfPredictionSink

OPTIONS = (
    CliOption(
        "--steps",
        "rollout_steps",
        "rollout length in steps of dt (default: the model's, 50)",
        type="int",
        verbs=("predict", "evaluate"),
    ),
    CliOption(
        "--start-frame",
        "start_frame",
        "first frame of an H5/XDMF trajectory input (0)",
        type="int",
        verbs=("predict",),
    ),
    CliOption(
        "--max-nodes",
        "max_nodes",
        f"refuse meshes with more nodes, per record (default: the model's max_nodes, "
        f"{DEFAULT_MAX_NODES:,})",
        type="int",
        verbs=("predict",),
    ),
    CliOption(
        "--max-steps",
        "max_steps",
        f"refuse --steps above this, per record (default: the model's max_rollout_steps, "
        f"{DEFAULT_MAX_ROLLOUT_STEPS:,})",
        type="int",
        verbs=("predict",),
    ),
    CliOption(
        "--max-frames-gib",
        "max_frames_gib",
        f"refuse rollouts whose predicted frames need more GiB, per record (default: the "
        f"model's max_frames_gib, {DEFAULT_MAX_FRAMES_GIB:g})",
        type="float",
        verbs=("predict",),
    ),
    CliOption(
        "--model",
        "model",
        "architecture: transformer (default) or mgn (MeshGraphNets baseline)",
        verbs=("train",),
    ),
    CliOption(
        "--noise",
        "noise",
        "training noise std on normal-node velocity (m/s) and pressure (0.02)",
        type="float",
        verbs=("train",),
    ),
    CliOption(
        "--frames-per-trajectory",
        "frames_per_trajectory",
        "training frames sampled per trajectory (all)",
        type="int",
        verbs=("train",),
    ),
    CliOption(
        "--dataset-dir",
        "dataset_dir",
        f"where --dataset {DATASET_NAME} is ({DEFAULT_DATASET_DIR})",
        verbs=("train", "evaluate"),
    ),
    CliOption(
        "--trajectories",
        "trajectories",
        "trajectories to generate (10)",
        type="int",
        verbs=("generate",),
        default=10,
    ),
    CliOption(
        "--frames",
        "frames",
        "stored frames per trajectory, dt = 0.01 s (600)",
        type="int",
        verbs=("generate",),
        default=600,
    ),
    CliOption(
        "--warmup-frames",
        "warmup_frames",
        "frames simulated and discarded first (300)",
        type="int",
        verbs=("generate",),
        default=300,
    ),
    CliOption(
        "--num-vertices",
        "num_vertices",
        "target mesh vertex count (1800)",
        type="int",
        verbs=("generate",),
        default=1800,
    ),
)

PLUGIN = DomainPlugin(
    name="mesh",
    schema_version=1,
    config_class=MeshConfig,
    io=RecordIO(
        readers=READERS,
        from_objects=records_from_objects,
        echo_columns=echo_columns,
        writers={".xdmf": XdmfPredictionSink},
    ),
    task=MeshTask(),
    data=MeshData(),
    examples=Examples(
        inputs=examples.example_inputs,
        objects=examples.example_objects,
        write_file=examples.write_example_file,
        labelled=examples.labelled,
        training_request=examples.training_request,
    ),
    reports=MeshReports(),
    commands=Commands(generate=commands.generate),
    options=OPTIONS,
)

__all__ = ["DATASET_NAME", "OPTIONS", "PLUGIN"]
