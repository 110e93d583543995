"""The per-frame checks in the web UI (issue 14): resume a run a failed check paused
(``POST /api/resume``) and what the current run's checks show so far (``GET /api/run/checks``:
the coverage map, the growing result, what was caught). See docs/api.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from rig.check_report import check_summary
from rig.manifest import UnreadableManifest, read_manifest
from rig.merge.results import PREVIEW, RESULTS
from rig.run_storage import COMPOSITE_IMAGE, COVERAGE_IMAGE
from rig.web import operations as ops
from rig.web.context import state
from rig.web.inputs import accepts

checks_api = Blueprint("checks_api", __name__, url_prefix="/api")


@checks_api.get("/run/checks")
@accepts(ops.RUN_CHECKS)
def run_checks() -> ResponseReturnValue:
    """The current (or last) run's checks: ``stack`` (its id), the URLs of ``coverage.png`` and of
    the growing result once they exist, ``caught`` (shots turned down so far), ``summary`` lines.
    The growing result (``composite``, from ``composite_source``) is the merge's own: its result so
    far (``merge``: ``merge-preview.jpg``) while a merge during capture runs, its ``merged.jpg``
    once done (``merged``); else the checks' quick composite (``quick``: ``composite.jpg``)."""
    st = state()
    status = st.machine.sequencer.status()
    out: dict[str, Any] = {
        "stack": None,
        "coverage": None,
        "composite": None,
        "composite_source": None,
        "caught": 0,
        "summary": [],
    }
    folder = Path(status.folder) if status.folder else None
    sid = st.gallery.stack_id(status.folder) if folder else None
    if folder is None or sid is None:
        return jsonify(out)
    out["stack"] = sid
    stamp = f"?n={status.frames_saved}"  # a new URL with every frame: the phone reloads the image
    if (folder / COVERAGE_IMAGE).is_file():
        out["coverage"] = f"/stacks/{sid}/file/{COVERAGE_IMAGE}{stamp}"
    merge = st.machine.merges.status() or {}
    merging = merge.get("folder") == str(folder)
    for source, name, wanted in (
        ("merge", PREVIEW, merging and merge.get("state") == "running"),
        ("merged", RESULTS.jpeg, merging and merge.get("state") == "done"),
        ("quick", COMPOSITE_IMAGE, True),
    ):
        path = folder / name
        if wanted and path.is_file():
            version = f"{stamp}.{path.stat().st_mtime_ns}"  # the merge rewrites its preview between frames too
            out["composite"], out["composite_source"] = f"/stacks/{sid}/file/{name}{version}", source
            break
    try:
        record = read_manifest(folder)
    except (OSError, UnreadableManifest):
        return jsonify(out)
    out["caught"] = sum(len(f.checks.rejected) for f in record.frames or () if f.checks)
    out["summary"] = check_summary(record)
    return jsonify(out)
