"""Issue 15, proof: a few cells of bench/fault_matrix.py (tiny frames, 4 slices). A fault at a
slice stops the run with every frame before it saved and listed, nothing unlisted, ``stack.json``
not ``running``; the resume finishes the stack without changing any file that was there.

The signal cells (SIGKILL, SIGTERM of ``rig serve``) start child processes and are left to the
bench script and tests/test_power_loss.py; the disk cell needs root to mount a tmpfs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import fault_matrix  # noqa: E402


@pytest.mark.parametrize(("fault", "where"), [("rail", "first"), ("unplug", "middle"), ("card_full", "last")])
def test_a_fault_loses_overwrites_and_leaves_nothing_unlisted(fault: str, where: str) -> None:
    cell = fault_matrix.run_cell(fault, where, slices=4, disk=None)
    assert cell.outcome_at_fault == "failed"
    assert cell.saved_at_fault == cell.slice - 1  # every frame before the fault, none after it
    assert (cell.running_left, cell.lost, cell.overwritten, cell.unaccounted) == (0, 0, 0, [])
    assert cell.final == "completed", cell.note


def test_a_disk_that_fills_at_a_slice_keeps_what_was_saved() -> None:
    with fault_matrix.small_disk() as disk:
        if disk is None:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        cell = fault_matrix.run_cell("disk_full", "middle", slices=4, disk=disk)
    assert cell.outcome_at_fault == "failed"
    assert 1 <= cell.saved_at_fault <= 2, cell  # the disk filled at slice 2 (or, by a few kB, 3)
    assert (cell.running_left, cell.lost, cell.overwritten, cell.unaccounted) == (0, 0, 0, [])
    assert cell.final == "completed", cell.note
