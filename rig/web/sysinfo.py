"""``GET /api/system``: the active config and backends, their health, disk, CPU temperature."""

from __future__ import annotations

import os
import shutil
import time

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from rig import __version__
from rig.merge.jobs import merge_available
from rig.web import operations as ops
from rig.web.context import rail_can_home, rail_health, state
from rig.web.fieldkit import system_summary
from rig.web.inputs import accepts

system_api = Blueprint("system_api", __name__, url_prefix="/api")


def cpu_temp_c() -> float | None:
    try:
        with open("/sys/class/thermal/thermal_zone0/temp", encoding="ascii") as fh:
            return round(int(fh.read().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


@system_api.get("/system")
@accepts(ops.SYSTEM)
def system() -> ResponseReturnValue:
    st = state()
    m = st.machine
    cfg = m.config
    root = st.gallery.root
    probe = root
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        du = shutil.disk_usage(probe)
        disk = {
            "path": str(root),
            "free_mb": round(du.free / 1e6),
            "total_mb": round(du.total / 1e6),
            "min_free_mb": cfg.output.min_free_mb,
        }
    except OSError as exc:
        disk = {"path": str(root), "error": str(exc)}
    try:
        camera_info = dict(m.camera.info())
    except Exception as exc:  # noqa: BLE001
        camera_info = {"error": f"{type(exc).__name__}: {exc}"}
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    summary = system_summary(st, max_age_s=0)
    return jsonify(
        {
            "version": __version__,
            "config": cfg.summary(),
            "rail": rail_health(m.rail),
            "can_home": rail_can_home(st),
            "camera": rail_health(m.camera),
            "camera_info": camera_info,
            "disk": disk,
            "cpu_temp_c": cpu_temp_c(),
            "load": [round(x, 2) for x in load] if load else None,
            "time": time.time(),
            "clock": summary["clock"],
            "battery": summary["battery"],
            "field_kit": summary["field_kit"],
            "web": {
                "lan": st.lan,
                "threads": cfg.web.threads,
                "max_live_viewers": cfg.web.max_live_viewers,
                "live_viewers": st.preview.viewers,
                "status_streams": st.sse_clients,
            },
            "merge_available": merge_available(),
            "profiles_folder": str(m.profiles.folder),
        }
    )
