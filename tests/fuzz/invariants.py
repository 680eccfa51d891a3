"""What every reader's output must satisfy, whatever the input (shared by the fuzz tests)."""

from __future__ import annotations

from collections.abc import Callable

from scisuite.core.records import BadRecord, Record


def check_items(
    items: list[Record | BadRecord],
    record_values: Callable[[Record], list[str]],
    distinct_lines: bool = False,
) -> None:
    """Input order, a reason on every bad record, one Record per id, and text an output row
    can hold. ``record_values`` checks a good record's payload and returns its text fields."""
    lines = [item.line for item in items if item.line is not None]
    assert lines == sorted(lines), "items come in input order"
    if distinct_lines:
        assert len(set(lines)) == len(lines), "one item per line"
    seen: set[str] = set()
    for item in items:
        values = [item.id, str(item.source)]
        if isinstance(item, BadRecord):
            assert item.reason, "every bad record says why"
            values += [item.reason, *map(str, item.fields.values())]
        else:
            assert item.id not in seen, "a repeated id is a bad record, not a second record"
            seen.add(item.id)
            values += record_values(item)
        for value in values:
            value.encode("utf-8")  # an output row can hold it
