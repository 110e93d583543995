"""Binary responses: the live view (MJPEG and single frames), stack files and thumbnails."""

from __future__ import annotations

from flask import Blueprint, Response, request, send_file
from flask.typing import ResponseReturnValue

from rig.errors import RigError
from rig.web.context import state
from rig.web.security import ApiError

files = Blueprint("files", __name__)
THUMB_WIDTHS = (160, 320, 640, 1280)


@files.get("/live.mjpg")
def live() -> ResponseReturnValue:
    hub = state().preview
    if not hub.join():
        raise ApiError(503, f"live view is limited to {hub.max_viewers} viewers at a time")
    return Response(
        hub.mjpeg(), mimetype="multipart/x-mixed-replace; boundary=frame", headers={"Cache-Control": "no-store"}
    )


@files.get("/live.jpg")
def live_frame() -> ResponseReturnValue:
    st = state()
    frame, error = st.preview.grab()
    if frame is None:
        raise ApiError(503, error or "no preview available")
    return Response(frame, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


def _width() -> int:
    raw = request.args.get("w", "320")
    try:
        wanted = int(raw)
    except ValueError:
        raise ApiError(400, f"w = {raw!r}: must be a whole number") from None
    return min(THUMB_WIDTHS, key=lambda w: abs(w - wanted))


@files.get("/stacks/<path:sid>/file/<path:name>")
def stack_file(sid: str, name: str) -> ResponseReturnValue:
    path = state().gallery.file(sid, name)
    download = request.args.get("download") == "1"
    return send_file(path, as_attachment=download, download_name=path.name, max_age=0, conditional=True)


@files.get("/stacks/<path:sid>/thumb/<path:name>")
def stack_thumb(sid: str, name: str) -> ResponseReturnValue:
    gallery = state().gallery
    path = gallery.file(sid, name)
    try:
        data = gallery.thumbnail(path, _width())
    except (OSError, RigError) as exc:
        raise ApiError(404, f"no preview: {exc}") from None
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@files.get("/stacks/<path:sid>/thumb")
def stack_cover(sid: str) -> ResponseReturnValue:
    gallery = state().gallery
    summary = gallery.summary(sid, gallery.folder(sid))
    if not summary["thumb_file"]:
        raise ApiError(404, "this stack has no image to show yet")
    return stack_thumb(sid, summary["thumb_file"])
