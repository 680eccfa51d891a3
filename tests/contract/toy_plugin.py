"""A tiny but real plugin used to exercise the contract suite without any domain.

Records are ring graphs ``id,num_nodes,target`` in ``.ring`` text files; the target is
learnable from the graph (it is the number of nodes in the examples, and every node
feature is that number / 10, so a few epochs suffice).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from scisuite.core.backbone import Backbone
from scisuite.core.checkpoint import fingerprint
from scisuite.core.config import BackboneConfig, FrozenConfig, require
from scisuite.core.encodings import random_walk_pe
from scisuite.core.heads import GraphHead
from scisuite.core.io import open_text
from scisuite.core.metrics import masked_rmse
from scisuite.core.patterns import DensePattern
from scisuite.core.plugin import (
    CliOption,
    DataCatalog,
    DatasetSpec,
    DomainPlugin,
    Examples,
    Metric,
    Predicted,
    RecordIO,
    Task,
    TrainingData,
    TrainRequest,
)
from scisuite.core.records import PYTHON_SOURCE, BadRecord, Record, RecordError


@dataclass(frozen=True)
class RingConfig(FrozenConfig):
    backbone: BackboneConfig = field(
        default_factory=lambda: BackboneConfig(
            d_model=16, num_heads=2, num_layers=2, node_in_dim=1, rw_pe_dim=4, attention="dense"
        )
    )
    max_nodes: int = 50
    target_mean: float = 0.0
    target_std: float = 1.0

    def validate(self) -> None:
        require(self.max_nodes >= 3, "max_nodes must be >= 3")
        require(self.target_std > 0, "target_std must be positive")


def read_rings(path: str | Path, **_: Any) -> Iterator[Record | BadRecord]:
    with open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = [p.strip() for p in line.strip().split(",")]
            if len(parts) != 3:
                yield BadRecord(
                    f"{Path(str(path)).name}:{line_no}",
                    "expected id,num_nodes,target",
                    line_no,
                    str(path),
                )
                continue
            rid, n, target = parts
            try:
                yield Record(rid, {"n": int(n), "target": float(target)}, line_no, str(path))
            except ValueError:
                yield BadRecord(
                    rid, f"num_nodes {n!r} / target {target!r} not numbers", line_no, str(path)
                )


class RingModel(nn.Module):
    def __init__(self, config: RingConfig) -> None:
        super().__init__()
        self.backbone = Backbone(config.backbone)
        self.head = GraphHead(config.backbone.d_model, 1, pooling="sum")

    def forward(self, batch: Batch) -> Tensor:
        out = self.backbone(batch.x, batch.batch, DensePattern(batch.batch), rw_pe=batch.rw_pe)
        return self.head(out.node_states, batch.batch, batch.num_graphs)

    def predict(self, batch: Batch) -> Tensor:
        """Normalised predictions ``[G, 1]`` (the task de-normalises)."""
        return self(batch)


class RingTask(Task):
    metrics = (Metric("rmse", masked_rmse, higher_is_better=False, perfect=0.0),)

    def default_config(self) -> RingConfig:
        return RingConfig()

    def featurize(self, record: Record, config: FrozenConfig) -> Data:
        config = RingConfig.coerce(config)
        n = record.payload["n"]
        if not 3 <= n <= config.max_nodes:
            raise RecordError(
                record.id, f"ring size {n} outside 3..{config.max_nodes}", record.line
            )
        src = torch.arange(n)
        edge_index = torch.stack([torch.cat([src, (src + 1) % n]), torch.cat([(src + 1) % n, src])])
        target = (record.payload["target"] - config.target_mean) / config.target_std
        return Data(
            x=torch.full((n, 1), n / 10.0),
            edge_index=edge_index,
            num_nodes=n,
            rw_pe=random_walk_pe(edge_index, n, 4),
            y=torch.tensor([[target]]),
            record_id=record.id,
        )

    def build_model(self, config: FrozenConfig) -> nn.Module:
        return RingModel(RingConfig.coerce(config))

    def loss(self, outputs: Tensor, batch: Batch, config: FrozenConfig) -> Tensor:
        return nn.functional.mse_loss(outputs, batch.y)

    def evaluation_arrays(
        self, outputs: Tensor, batch: Batch, config: FrozenConfig
    ) -> tuple[Tensor, Tensor]:
        config = RingConfig.coerce(config)
        scale = lambda t: t * config.target_std + config.target_mean  # noqa: E731
        return scale(outputs), scale(batch.y)

    def output_columns(self, config: FrozenConfig) -> list[str]:
        return ["id", "num_nodes", "prediction"]

    def postprocess(
        self, prediction: Tensor, batch: Batch, config: FrozenConfig
    ) -> list[Predicted]:
        pred, _ = self.evaluation_arrays(prediction, batch, config)
        return [Predicted({"prediction": float(v)}, float(v)) for v in pred[:, 0]]


def _training_data(config: RingConfig) -> TrainingData:
    sizes = list(range(3, 30))
    graphs = [
        RingTask().featurize(Record(str(n), {"n": n, "target": float(n)}), config) for n in sizes
    ]
    return TrainingData(config, graphs[::2], graphs[1::2], [], fingerprint(map(str, sizes)))


class RingData(DataCatalog):
    datasets = {"rings": DatasetSpec("rings", "ring graphs, target = size", lambda out, cache: out)}

    def build_training_data(self, request: TrainRequest) -> TrainingData:
        return _training_data(RingConfig(target_mean=16.0, target_std=8.0))

    def evaluation_data(self, request: TrainRequest, config: FrozenConfig) -> list[Data]:
        return _training_data(RingConfig.coerce(config)).val


def echo_columns(record: Record | BadRecord) -> dict[str, Any]:
    n = record.payload.get("n") if isinstance(record, Record) else None
    return {"id": record.id, "num_nodes": n}


def rings_from_objects(objects: Iterable[Any]) -> Iterator[Record | BadRecord]:
    for i, n in enumerate(objects):
        yield Record(f"ring{i}", {"n": int(n), "target": math.nan}, i + 1, PYTHON_SOURCE)


def write_example_file(directory: Path) -> tuple[Path, int, int]:
    path = directory / "rings.ring"
    path.write_text("a,3,3\nb,7,7\nbroken line\nc,2,2\nd,12,12\n")
    return path, 5, 2


def example_inputs() -> list[Record]:
    return [Record(f"r{n}", {"n": n, "target": float(n)}) for n in (3, 5, 8)]


PLUGIN = DomainPlugin(
    name="toyring",
    schema_version=1,
    config_class=RingConfig,
    io=RecordIO(
        readers={".ring": read_rings},
        stdin=read_rings,
        from_objects=rings_from_objects,
        echo_columns=echo_columns,
    ),
    task=RingTask(),
    data=RingData(),
    examples=Examples(
        inputs=example_inputs,
        objects=lambda: [4, 6, 9],
        write_file=write_example_file,
        labelled=lambda config: [RingTask().featurize(r, config) for r in example_inputs()],
        training_request=lambda directory: TrainRequest(dataset="rings"),
    ),
    options=(CliOption("--max-nodes", "max_nodes", "largest ring", type="int"),),
)
