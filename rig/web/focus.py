"""The focusing screen's server side: the magnified live view with focus peaking
(``/live/view.mjpg``, ``/live/view.jpg``), the range sweep (``POST /api/range``,
``GET /api/range``) and the optics part of ``POST /api/plan``. See docs/api.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from rig.calibration_store import rail_calibration
from rig.config import Profile, ProfileOptics
from rig.config.schema import from_table
from rig.errors import ConfigError, RigError, UsageError
from rig.live_view import View, render_view
from rig.optics_rail import plan_optics
from rig.plan import Plan
from rig.plan_coverage import SubjectRange, coverage_warnings
from rig.range_sweep import default_span
from rig.web import operations as ops
from rig.web.context import request_json_state, state
from rig.web.inputs import accepts, read_body
from rig.web.security import ApiError
from rig.web.stream import LIVE_FPS, PreviewHub

focus = Blueprint("focus", __name__)


# ----------------------------------------------------------------- magnified live view
def _view() -> View:
    args = request.args
    try:
        zoom = int(args.get("zoom", "1"))
        x, y = float(args.get("x", "0.5")), float(args.get("y", "0.5"))
    except ValueError:
        raise ApiError(400, "zoom must be a whole number, x and y numbers from 0 to 1") from None
    peaking = args.get("peaking", "0")
    if peaking not in ("0", "1"):
        raise ApiError(400, f"peaking = {peaking!r}: must be 0 or 1")
    try:
        return View(zoom=zoom, x=x, y=y, peaking=peaking == "1")
    except UsageError as exc:
        raise ApiError(400, str(exc)) from None


def _frame(hub: PreviewHub, frame: bytes, view: View) -> bytes:
    """The hub's frame as ``view`` shows it: a camera that can render a crop itself at more than
    preview resolution (the simulated camera) does; otherwise the preview frame is cropped here."""
    camera = hub.machine.camera
    crop = getattr(camera, "preview_crop", None)
    if view.zoom > 1 and crop is not None:
        return render_view(crop(view.x, view.y, view.zoom), view, cropped=True)
    return render_view(frame, view)


def _part(data: bytes) -> bytes:
    return (
        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
        + str(len(data)).encode()
        + b"\r\n\r\n"
        + data
        + b"\r\n"
    )


def _view_stream(hub: PreviewHub, view: View) -> Iterator[bytes]:
    """Frames of the shared preview loop, cropped and peaked for this viewer."""
    seq = -1
    try:
        while not hub.closed:
            new_seq, frame, _ = hub.wait_frame(seq)
            if new_seq == seq or frame is None:
                continue
            seq = new_seq
            try:
                yield _part(_frame(hub, frame, view))
            except RigError:
                continue  # the camera went away for a moment: the next frame says so
    finally:
        hub.leave()


def _own_stream(hub: PreviewHub, crop: Callable[[float, float, int], bytes], view: View) -> Iterator[bytes]:
    """A magnified view the camera renders itself (thread-safe, e.g. the simulated camera): no
    shared full-frame loop behind it, at the live view's rate."""
    period = 1.0 / LIVE_FPS
    try:
        while not hub.closed:
            t0 = time.monotonic()
            try:
                yield _part(render_view(crop(view.x, view.y, view.zoom), view, cropped=True))
            except RigError:
                pass
            time.sleep(max(0.005, period - (time.monotonic() - t0)))
    finally:
        hub.leave(shared=False)


@focus.get("/live/view.mjpg")
def live_view() -> ResponseReturnValue:
    view = _view()
    hub = state().preview
    crop = getattr(hub.machine.camera, "preview_crop", None) if hub.live_while_busy and view.zoom > 1 else None
    if not hub.join(shared=crop is None):
        raise ApiError(503, f"live view is limited to {hub.max_viewers} viewers at a time")
    body = _view_stream(hub, view) if crop is None else _own_stream(hub, crop, view)
    return Response(body, mimetype="multipart/x-mixed-replace; boundary=frame", headers={"Cache-Control": "no-store"})


@focus.get("/live/view.jpg")
def live_view_frame() -> ResponseReturnValue:
    view = _view()
    hub = state().preview
    frame, error = hub.grab()
    if frame is None:
        raise ApiError(503, error or "no preview available")
    return Response(_frame(hub, frame, view), mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@focus.get("/live/last.jpg")
def last_frame() -> ResponseReturnValue:
    """The last frame the running (or last) stack saved, as a 640 px preview: what the focusing
    screen shows while a camera's live view pauses for the run."""
    from pathlib import Path

    from rig.manifest import read_manifest

    st = state()
    folder = st.machine.sequencer.status().folder
    if not folder:
        raise ApiError(404, "no stack has saved a frame yet")
    try:
        frames = read_manifest(Path(folder)).frames or ()
        saved = [f for f in frames if f.file]
        if not saved:
            raise ApiError(404, "this stack has saved no frame yet")
        data = st.gallery.thumbnail(Path(folder) / str(saved[-1].file), 640)
    except (OSError, RigError) as exc:
        raise ApiError(404, f"no frame to show: {exc}") from None
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@focus.get("/api/live")
@accepts(ops.LIVE)
def live_info() -> ResponseReturnValue:
    """What the focusing screen needs to offer: the zoom steps and which one is 100 %."""
    camera = state().machine.camera
    native = int(getattr(camera, "preview_factor", 1))
    return jsonify({"zooms": [1, 2, 4, 8], "native_zoom": native, "live": getattr(camera, "has_live_view", True)})


# ----------------------------------------------------------------- range sweep
@focus.post("/api/range")
@accepts(ops.RANGE)
def range_start() -> ResponseReturnValue:
    """Start a range sweep (paired, with control, like a jog). Without from_um/to_um it sweeps
    the usual span (rig.range_sweep.default_span). The answer comes as a ``range`` event and
    from ``GET /api/range``."""
    data = read_body()  # both from_um and to_um, or neither
    lo, hi = data["from_um"], data["to_um"]
    st = state()
    rail = st.machine.rail
    if lo is None or hi is None:
        lo, hi = default_span(rail.position(), rail.limits(), rail.units)
    else:
        low, high = rail.limits()
        for key, value in (("from_um", lo), ("to_um", hi)):
            if not low <= value <= high:
                raise ApiError(400, f"{key} = {value:g}: outside the rail's soft limits {low:g}..{high:g} {rail.units}")
    st.lock.require(g.client, g.label)
    st.machine.sequencer.find_range(lo, hi)
    return jsonify(request_json_state()), 202


@focus.get("/api/range")
@accepts(ops.RANGE_RESULT)
def range_result() -> ResponseReturnValue:
    result = state().machine.sequencer.last_range()
    return jsonify({"range": None if result is None else result.to_dict()})


# ----------------------------------------------------------------- the optics part of /api/plan
def optics_answer(data: dict[str, Any], profile: Profile, plan: Plan) -> dict[str, Any]:
    """``optics`` (depth of field, step, slices for the plan's range) and ``coverage`` (warnings)
    for ``POST /api/plan``: from the body's ``optics`` object, else the profile's [optics]."""
    table = data.get("optics")
    optics: ProfileOptics | None = profile.optics
    if table is not None:
        try:
            optics = from_table(ProfileOptics, table, "optics")
        except ConfigError as exc:
            raise ApiError(400, str(exc)) from None
    machine = state().machine
    answer = None
    if optics is not None:
        try:
            calibration = rail_calibration(machine.config)
            answer = plan_optics(optics, machine.config.rail, plan.targets[0], plan.targets[-1], calibration)
        except UsageError as exc:
            raise ApiError(400, str(exc)) from None
    subject = SubjectRange.of(machine.sequencer.known_range())  # this process's sweep or an earlier one's
    warnings = coverage_warnings(plan.targets, plan.units, answer.dof if answer else None, subject)
    return {"optics": answer.to_dict() if answer else None, "coverage": warnings}
