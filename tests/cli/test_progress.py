"""Progress bars: drawn for a person at a terminal, never into a pipe or with --json."""

from __future__ import annotations

import argparse
import io

import pytest

from lls.cli.progress import StageProgress, progress_for


def test_stages_are_drawn_on_a_terminal_stream() -> None:
    screen = io.StringIO()
    with StageProgress("work", screen) as progress:
        progress.stage("checking 3 licenses")
        progress.stage("writing pool.lls", 2, 4)
        progress.stage("writing pool.lls", 4, 4)
    drawn = screen.getvalue()
    assert "checking 3 licenses" in drawn and "writing pool.lls" in drawn
    assert "4/4" in drawn


def test_no_stream_draws_nothing_and_accepts_every_call() -> None:
    with StageProgress("work", None) as progress:
        progress.stage("anything", 1, 2)
    assert progress.enabled is False


@pytest.mark.parametrize("as_json", [False, True])
def test_progress_is_off_when_output_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    args = argparse.Namespace(json=True) if as_json else argparse.Namespace()
    assert progress_for(args, "backup").enabled is False  # capsys: not a terminal
