"""Pause and resume of a running stack (``POST /api/pause``, ``POST /api/resume``), and
resuming an interrupted, cancelled or failed stack from the gallery
(``POST /api/stacks/<id>/resume``). See docs/api.md."""

from __future__ import annotations

from flask import Blueprint, g
from flask.typing import ResponseReturnValue

from rig.errors import StateError
from rig.web import operations as ops
from rig.web.context import request_json_state, state
from rig.web.inputs import accepts, read_body

run_control = Blueprint("run_control", __name__, url_prefix="/api")


def _lock() -> None:
    state().lock.require(g.client, g.label)


@run_control.post("/pause")
@accepts(ops.PAUSE)
def pause() -> ResponseReturnValue:
    """Stop the running stack before its next slice; the rail holds its position."""
    read_body()
    _lock()
    state().machine.sequencer.pause()
    return request_json_state(), 202


@run_control.post("/resume")
@accepts(ops.RESUME)
def resume() -> ResponseReturnValue:
    """Go on with a paused stack from where it stopped (and retake a slice that failed its checks)."""
    read_body()
    _lock()
    state().machine.sequencer.resume()
    return request_json_state(), 202


@run_control.post("/stacks/<path:sid>/resume")
@accepts(ops.STACK_RESUME)
def resume_stack(sid: str) -> ResponseReturnValue:
    """Finish an interrupted, cancelled or failed stack into its own folder (rig.resume)."""
    st = state()
    confirmed = read_body()["position_confirmed"]
    folder = st.gallery.folder(sid)
    if st.merges.running_for(folder):
        raise StateError("this stack is being merged; cancel the merge first")
    _lock()
    st.machine.resume_stack(folder, position_confirmed=confirmed, stack_id=st.gallery.stack_id)
    return request_json_state(), 202
