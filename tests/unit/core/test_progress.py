"""Progress bars: shown on a terminal or when asked, silent in logs and with --quiet."""

from __future__ import annotations

import io
import sys

import pytest

from scisuite.core.progress import progress_bar, wanted


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "enabled", "expected"),
    [(_Terminal(), None, True), (io.StringIO(), None, False), (_Terminal(), False, False),
     (io.StringIO(), True, True)],
)  # fmt: skip
def test_wanted(monkeypatch, stream, enabled, expected) -> None:
    monkeypatch.setattr(sys, "stderr", stream)
    assert wanted(enabled) is expected


def test_a_shown_bar_reports_rate_and_eta(monkeypatch) -> None:
    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(100, "scoring") as bar:
        bar.update(40)
    shown = stream.getvalue()
    assert "scoring" in shown and "100/100" not in shown and "40/100" in shown
    assert "rec/s" in shown or "s/rec" in shown


def test_a_hidden_bar_writes_nothing(monkeypatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(10, "scoring") as bar:
        bar.update(10)
    assert stream.getvalue() == ""
