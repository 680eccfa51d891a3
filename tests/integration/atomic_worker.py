"""A writer for ``test_atomic_outputs.py`` to kill with SIGKILL from outside.

``python atomic_worker.py FORMAT DIRECTORY``: streams a large table over the old
``DIRECTORY/table.FORMAT``, slowly, and prints ``ready`` once several chunks are in its
temporary file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def table(directory: Path, fmt: str) -> None:
    """Many rows, slowly: ``ready`` once several chunks are in the temporary file."""
    from scisuite.core.io import TableSink

    sink = TableSink(directory / f"table.{fmt}", ["id", "value", "text"], chunk_rows=500)
    for index in range(1_000_000):
        sink.write({"id": f"r{index}", "value": index * 0.5, "text": "x" * 40})
        if index == 5_000:
            print("ready", flush=True)
        if index > 5_000:
            time.sleep(0.001)


if __name__ == "__main__":
    table(Path(sys.argv[2]), sys.argv[1])
    print("finished without being killed", flush=True)
