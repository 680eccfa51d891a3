"""Per-residue outputs of a prediction, streamed next to its table: ``<stem>.residues.<ext>``
(one row per residue of every ``ok`` row: id, position, residue, dssp3, dssp8; the table's
format) and ``<stem>.ss.png`` (the predicted DSSP3 of the first sequences)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from scisuite.core.config import FrozenConfig
from scisuite.core.io import TableSink, table_format
from scisuite.core.plots import new_figure, save_png
from scisuite.core.plugin import Predicted
from scisuite.domains.protein.prompts import SS3_ALPHABET

RESIDUE_COLUMNS = ["id", "position", "residue", "dssp3", "dssp8"]
TRACK_COLOURS = {"H": "#d62728", "E": "#1f77b4", "C": "#c7c7c7"}
PLOTTED_SEQUENCES = 20


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


class ResidueTracks:
    """A :class:`~scisuite.core.plugin.PredictionSink` writing the residue table and the SS
    plot from the prediction stream (memory: one table chunk and the plotted tracks).

    Args:
        output: the prediction table's path (its stem and format name the outputs).
        config: the protein config (unused; part of the sink factory signature).
    """

    def __init__(self, output: Path, config: FrozenConfig | None = None) -> None:
        output = Path(output)
        fmt = table_format(output)
        stem = output.name[: -len("".join(output.suffixes))] or output.name
        self.residues = output.with_name(f"{stem}.residues.{fmt}")
        self.plot = output.with_name(f"{stem}.ss.png")
        self.plotted: list[tuple[str, str]] = []
        self._table = TableSink(self.residues, RESIDUE_COLUMNS, fmt)

    def write(self, predicted: Predicted) -> None:
        row = predicted.row
        dssp3 = _text(row.get("dssp3"))
        if row.get("status", "ok") != "ok" or not dssp3:
            return
        sequence, dssp8 = _text(row.get("sequence")), _text(row.get("dssp8"))
        if len(self.plotted) < PLOTTED_SEQUENCES:
            self.plotted.append((str(row["id"]), dssp3))
        for position, residue in enumerate(sequence):
            self._table.write(
                {
                    "id": row["id"],
                    "position": position + 1,
                    "residue": residue,
                    "dssp3": dssp3[position] if position < len(dssp3) else "",
                    "dssp8": dssp8[position] if position < len(dssp8) else "",
                }
            )

    def close(self) -> list[Path]:
        self._table.close()
        plot_ss_tracks(self.plotted, self.plot)
        return [self.residues, self.plot]

    def abort(self) -> None:
        self._table.abort()


def plot_ss_tracks(tracks: Sequence[tuple[str, str]], path: Path) -> Path:
    """PNG of predicted DSSP3 per residue: one row per sequence (H red, E blue, C grey).

    Args:
        tracks: ``(id, dssp3)`` pairs (the first rows of a prediction).
        path: where the PNG goes (written atomically).
    """
    from matplotlib.patches import Patch

    figure = new_figure(10, 0.9 + 0.45 * max(len(tracks), 1))
    axes = figure.add_subplot(1, 1, 1)
    longest = 1
    for row, (_, ss) in enumerate(tracks):
        longest = max(longest, len(ss))
        for match in re.finditer(r"H+|E+|C+|[^HEC]+", ss):
            colour = TRACK_COLOURS.get(match.group()[0], "#ffffff")
            axes.broken_barh(
                [(match.start() + 0.5, len(match.group()))], (row - 0.4, 0.8), color=colour
            )
    axes.set_yticks(range(len(tracks)), [name[:30] for name, _ in tracks])
    axes.set_ylim(len(tracks) - 0.5, -0.5)
    axes.set_xlim(0.5, longest + 0.5)
    axes.set_xlabel("residue")
    axes.set_title("predicted secondary structure (DSSP3)" if tracks else "no sequence predicted")
    names = {"H": "helix", "E": "strand", "C": "coil"}
    axes.legend(
        handles=[Patch(color=TRACK_COLOURS[c], label=names[c]) for c in SS3_ALPHABET],
        loc="upper right",
        ncols=3,
        fontsize="small",
    )
    figure.tight_layout()
    return save_png(figure, path, dpi=110)
