"""The JSON command API (``/api/...``). See docs/api.md.

Every command is a POST (or PUT/DELETE for profiles and stacks) with a JSON object body;
unknown fields, wrong types, NaN/inf and out-of-range numbers answer 400 with a message
naming the field; commands the current state forbids answer 409.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, g, jsonify, stream_with_context
from flask.typing import ResponseReturnValue

from rig import __version__
from rig.config import Profile
from rig.config.schema import _allowed, _resolve, to_table
from rig.errors import RigError, StateError, UsageError
from rig.paths import Template
from rig.run_estimate import estimate
from rig.web import operations as ops
from rig.web.catalogue_api import listing
from rig.web.context import rail_can_home, request_json_state, running_settings, state
from rig.web.fieldkit import system_summary
from rig.web.focus import optics_answer
from rig.web.gallery import used_by_run
from rig.web.inputs import accepts, read_body
from rig.web.jsonio import profile_from, specimen_from
from rig.web.security import ApiError
from rig.web.stream import event_stream

api = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger(__name__)


def _lock() -> None:
    st = state()
    st.lock.require(g.client, g.label)


def _output_inside_root(profile: Profile, where: str) -> None:
    """400 unless every run folder of ``profile.out`` lies inside ``output.root``: a web client
    (a paired phone) must not make the rig write anywhere the service user can. The CLI still
    takes absolute templates."""
    root = state().machine.config.output.root
    try:
        template = Template.parse(profile.out, root)
    except UsageError as exc:
        raise ApiError(400, f"{where}: option 'out': {exc}") from None
    if not template.is_under(root):
        raise ApiError(
            400,
            f"{where}: option 'out' = {profile.out!r}: its run folders would be outside output.root ({root}); "
            "over the web, use a template relative to it without '..' (e.g. '@GRP/@GCT4' or 'coins/@GRP/@GCT4')",
        )


def _status_response(code: int = 200) -> ResponseReturnValue:
    return jsonify(request_json_state()), code


# ----------------------------------------------------------------- session and status
@api.get("/session")
@accepts(ops.SESSION)
def session() -> ResponseReturnValue:
    st = state()
    return jsonify(
        {
            "csrf": st.guard.csrf_for(g.client),
            "paired": g.paired,
            "lan": st.lan,
            "loopback": g.loopback,
            "control": st.lock.state(g.client),
            "can_home": rail_can_home(st),
            "version": __version__,
        }
    )


@api.get("/status")
@accepts(ops.STATUS)
def status() -> ResponseReturnValue:
    return _status_response()


@api.get("/events")
@accepts(ops.EVENTS)
def events() -> ResponseReturnValue:
    st = state()
    with st.counter_lock:
        if st.sse_clients >= st.sse_limit:
            raise ApiError(503, "too many open status streams; close a tab and retry")
    client = g.client

    def snapshot() -> dict[str, Any]:
        status = st.machine.sequencer.status().to_dict()
        return {
            "status": status,
            "control": st.lock.state(client),
            "merge": st.merges.status(),
            "run": running_settings(st, status),
            "interrupted": st.interrupted,
            "not_updated": st.not_updated,
            "boot": st.boot,
            "system": system_summary(st),
        }

    def counted() -> Iterator[str]:
        with st.counter_lock:
            st.sse_clients += 1
        st.lock.stream(client, opened=True)
        try:
            yield from event_stream(
                st.machine,
                snapshot,
                lambda: st.lock.state(client),
                st.stopping,
                lambda: st.lock.touch(client),
                lambda: system_summary(st),
            )
        finally:
            with st.counter_lock:
                st.sse_clients -= 1
            st.lock.stream(client, opened=False)

    return Response(
        stream_with_context(counted()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# ----------------------------------------------------------------- motion commands
@api.post("/start")
@accepts(ops.START)
def start() -> ResponseReturnValue:
    st = state()
    data = read_body()
    name = data["name"]
    specimen = specimen_from(data["specimen"])
    overrides = data["profile"]
    if not isinstance(overrides, dict):
        raise ApiError(400, f"profile must be a JSON object, not {type(overrides).__name__}")
    table = {}
    if name:
        store = st.machine.profiles
        if store.exists(name):
            table = to_table(store.load(name))
        elif not overrides:
            store.load(name)  # raises the "no profile named ..." message
    table.update(overrides)
    profile = profile_from(table, "profile")
    _output_inside_root(profile, f"profile {name!r}" if name else "profile")
    _lock()
    result = st.machine.start_stack(profile, name or "default", stack_id=st.gallery.stack_id, specimen=specimen)
    st.last_run = {"run_id": result.run_id, "name": name or None, "profile": to_table(profile)}
    return _status_response(202)


@api.post("/cancel")
@accepts(ops.CANCEL)
def cancel() -> ResponseReturnValue:
    """Any viewer may cancel, paired or not, with control or not: a stop is always safe."""
    read_body()
    log.warning("cancel sent by %s", g.label)
    state().machine.sequencer.cancel()
    return _status_response(202)


@api.post("/estop")
@accepts(ops.ESTOP)
def estop() -> ResponseReturnValue:
    """Any viewer may stop the rig, paired or not: safety outranks pairing and the control lock."""
    read_body()
    log.warning("e-stop sent by %s", g.label)
    state().machine.sequencer.estop()
    return _status_response()


@api.post("/reset")
@accepts(ops.RESET)
def reset() -> ResponseReturnValue:
    read_body()
    _lock()
    state().machine.sequencer.reset()
    return _status_response()


@api.post("/jog")
@accepts(ops.JOG)
def jog() -> ResponseReturnValue:
    data = read_body()  # exactly one of delta or target
    delta, target = data["delta"], data["target"]
    _lock()
    state().machine.sequencer.jog(target=target, delta=delta)
    return _status_response(202)


@api.post("/home")
@accepts(ops.HOME)
def home() -> ResponseReturnValue:
    read_body()
    if not rail_can_home(state()):
        raise StateError("this rail has no home switch; jog to the start instead")
    _lock()
    state().machine.sequencer.home()
    return _status_response(202)


@api.post("/plan")
@accepts(ops.PLAN)
def plan() -> ResponseReturnValue:
    """What a profile would do from here: slices, step, start and end, how long it takes and how
    much it writes, and warnings when the battery or the card would not last. Moves nothing."""
    data = read_body()
    profile = profile_from(data["profile"], "profile")
    m = state().machine
    seq = m.sequencer
    p = seq.plan(profile)
    guess = estimate(p, profile, m.config, m.rail.position(), m.battery())
    return jsonify(
        {
            **optics_answer(data, profile, p),
            "slices": p.slices,
            "step": p.step,
            "start": p.targets[0],
            "end": p.targets[-1],
            "travel": abs(p.targets[-1] - p.targets[0]),
            "units": p.units,
            "estimate": guess.to_dict(),
            "calibration": calibration_answer(m.config),
        }
    )


def calibration_answer(config: Any) -> dict[str, Any] | None:
    """What ``rig calibrate`` measured and the plan used, or None (not calibrated)."""
    from rig.calibration_store import rail_calibration

    cal = rail_calibration(config)
    if cal is None:
        return None
    return {
        "um_per_step": cal.um_per_step,
        "rail_per_um": round(cal.rail_per_um, 6),
        "backlash": round(cal.backlash, 3),
        "take_up": round(cal.take_up, 3),
    }


@api.post("/control")
@accepts(ops.CONTROL)
def control() -> ResponseReturnValue:
    data = read_body()
    action, force = data["action"], data["force"]
    st = state()
    if action == "take":
        st.lock.take(g.client, g.label, force)
    else:  # "release" (read_body refuses any other)
        st.lock.release(g.client)
    return jsonify(st.lock.state(g.client))


# ----------------------------------------------------------------- profiles
def profile_schema() -> list[dict[str, Any]]:
    """The profile's fields for the forms; ``shown`` is the value a field left open stands for
    (the planner's slice count and step), which the Stack page shows as a real value."""
    import dataclasses

    from rig.plan import DEFAULT_SLICES, DEFAULT_STEP_UM

    planned: dict[str, float] = {"slices": DEFAULT_SLICES, "step_um": DEFAULT_STEP_UM}
    rows = []
    for f in dataclasses.fields(Profile):
        tp, optional = _resolve(Profile, f)
        meta = f.metadata
        rows.append(
            {
                "name": f.name,
                "type": tp.__name__,
                "optional": optional,
                "default": f.default,
                "range": list(meta["range"]) if meta.get("range") else None,
                "choices": list(meta["choices"]) if meta.get("choices") else None,
                "words": list(meta.get("words") or ()),
                "unit": meta.get("unit") or "",
                "help": meta.get("help") or "",
                "allowed": _allowed(f),
                "shown": planned.get(f.name, f.default),
            }
        )
    return rows


@api.get("/profile-schema")
@accepts(ops.PROFILE_SCHEMA)
def schema() -> ResponseReturnValue:
    return jsonify({"fields": profile_schema()})


@api.get("/profiles")
@accepts(ops.PROFILES)
def profiles() -> ResponseReturnValue:
    store = state().machine.profiles
    out = []
    for name in store.names():
        try:
            out.append({"name": name, "profile": to_table(store.load(name)), "error": None})
        except RigError as exc:
            out.append({"name": name, "profile": None, "error": str(exc)})
    return jsonify({"profiles": out, "folder": str(store.folder)})


@api.get("/profiles/<name>")
@accepts(ops.PROFILE_GET)
def profile_get(name: str) -> ResponseReturnValue:
    store = state().machine.profiles
    try:
        profile = store.load(name)
    except UsageError as exc:
        code = 404 if "no profile named" in str(exc) else 400
        raise ApiError(code, str(exc)) from None
    return jsonify({"name": name, "profile": to_table(profile)})


@api.put("/profiles/<name>")
@accepts(ops.PROFILE_PUT)
def profile_put(name: str) -> ResponseReturnValue:
    store = state().machine.profiles
    store._path(name)  # validates the name (400) before the body
    profile = profile_from(read_body(), f"profile {name!r}")
    _output_inside_root(profile, f"profile {name!r}")
    store.save(name, profile)
    return jsonify({"name": name, "profile": to_table(profile)})


@api.delete("/profiles/<name>")
@accepts(ops.PROFILE_DELETE)
def profile_delete(name: str) -> ResponseReturnValue:
    store = state().machine.profiles
    read_body()
    try:
        store.delete(name)
    except UsageError as exc:
        code = 404 if "no profile named" in str(exc) else 400
        raise ApiError(code, str(exc)) from None
    return jsonify({"deleted": name})


# ----------------------------------------------------------------- gallery
@api.get("/stacks")
@accepts(ops.STACKS)
def stacks() -> ResponseReturnValue:
    st = state()
    return jsonify(
        {
            "root": str(st.gallery.root),
            **listing(st),  # stacks (a page), total, page, per_page, sessions, profiles
            "interrupted": st.interrupted,
            "not_updated": st.not_updated,
            "merge": st.merges.status(),
        }
    )


@api.get("/stacks/<path:sid>")
@accepts(ops.STACK)
def stack(sid: str) -> ResponseReturnValue:
    st = state()
    info = st.gallery.detail(sid)
    merge = st.merges.status()
    info["merge"] = merge if merge and merge.get("stack") == sid else None
    return jsonify(info)


@api.delete("/stacks/<path:sid>")
@accepts(ops.STACK_DELETE)
def stack_delete(sid: str) -> ResponseReturnValue:
    st = state()
    read_body()
    folder = st.gallery.folder(sid)
    if used_by_run(folder, st.machine.sequencer.status().to_dict()):
        raise StateError("this stack is being shot right now; cancel it first")
    if st.merges.running_for(folder):
        raise StateError("this stack is being merged; cancel the merge first")
    st.gallery.delete(sid)
    return jsonify({"deleted": sid})


@api.post("/stacks/<path:sid>/merge")
@accepts(ops.STACK_MERGE)
def stack_merge(sid: str) -> ResponseReturnValue:
    st = state()
    align = read_body()["align"]
    folder = st.gallery.folder(sid)
    if used_by_run(folder, st.machine.sequencer.status().to_dict()):
        raise StateError("this stack is still being shot; merge it when the run has ended")
    info = st.gallery.detail(sid)
    usable = [f for f in info["frame_list"] if f["file"] and not f["preview"]]
    if len(usable) < 2:
        raise StateError(f"this stack has {len(usable)} saved full frame(s); a merge needs at least 2")
    return jsonify(st.merges.start(folder, sid, align=align)), 202


@api.post("/stacks/<path:sid>/merge/cancel")
@accepts(ops.STACK_MERGE_CANCEL)
def stack_merge_cancel(sid: str) -> ResponseReturnValue:
    read_body()
    return jsonify(state().merges.cancel(sid))
