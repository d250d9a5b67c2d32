"""What a download shows: a bar on a terminal, a line every 10% in logs; never on stdout."""

from __future__ import annotations

import io

import pytest

from machine.images.cache import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    report = progress_bar("Downloading machine-os")
    for done in range(0, 101 << 20, 10 << 20):
        report(min(done, 100 << 20), 100 << 20)
    shown = screen.getvalue()
    assert "Downloading machine-os" in shown
    assert "100.0 MB" in shown or "104.9 MB" in shown  # rich's DownloadColumn, in SI units
    assert "\x1b[" in shown  # drawn with terminal control codes, and cleared at the end
    assert capsys.readouterr().out == ""


def test_a_log_gets_a_line_every_tenth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = progress_bar("Downloading machine-os")
    for done in range(0, 100 << 20, 1 << 20):
        report(done, 100 << 20)
    report(100 << 20, 100 << 20)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == "Downloading machine-os: 0% of 100 MiB"
    assert lines[-1] == "Downloading machine-os: 100% of 100 MiB"
    assert len(lines) == 11
    assert captured.out == ""
