"""``GET``/``POST /api/camera``: the camera's settings by name (rig.camera_settings). See docs/api.md."""

from __future__ import annotations

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from rig.camera_settings import apply, read
from rig.errors import StateError
from rig.web import operations as ops
from rig.web.context import state
from rig.web.inputs import accepts, read_body
from rig.web.security import ApiError

camera_api = Blueprint("camera_api", __name__, url_prefix="/api")


@camera_api.get("/camera")
@accepts(ops.CAMERA)
def settings() -> ResponseReturnValue:
    return jsonify({"settings": [s.to_dict() for s in read(state().machine.camera)]})


@camera_api.post("/camera")
@accepts(ops.CAMERA_SET)
def change() -> ResponseReturnValue:
    """``{"set": {name: value}}``: every name and value is checked first (400 naming it), then all
    are made. Paired, with control, and not while the rig is busy (409)."""
    changes = read_body()["set"]
    values = changes.values() if isinstance(changes, dict) else ()
    if not isinstance(changes, dict) or not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values
    ):
        raise ApiError(400, "set must be an object of setting names to values")
    st = state()
    st.lock.require(g.client, g.label)
    if st.machine.sequencer.status().busy:
        raise StateError("cannot change camera settings while the rig is busy")
    after = apply(st.machine.camera, {str(k): str(v) for k, v in changes.items()})
    return jsonify({"settings": [s.to_dict() for s in after]})
