"""The gallery's listing (search, filters, grouping, pages: :mod:`rig.web.catalogue`) and a
stack's archive fields: its specimen and the crop of its results (docs/api.md)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from rig.errors import StateError
from rig.manifest import read_manifest, set_crop, set_specimen
from rig.web.catalogue import GROUPS, Query
from rig.web.context import WebState, state
from rig.web.gallery import used_by_run
from rig.web.jsonio import body, specimen_from
from rig.web.security import ApiError

catalogue_api = Blueprint("catalogue_api", __name__, url_prefix="/api")
PER_PAGE_MAX = 500
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def listing_query() -> Query:
    """The listing's query string: ``q``, ``specimen``, ``profile``, ``session``, ``from``, ``to``
    (YYYY-MM-DD), ``group`` (date|specimen|profile|session), ``page``, ``per_page``; 400 naming
    the parameter that will not do."""
    args = request.args

    def text(key: str, limit: int = 200) -> str:
        value = args.get(key, "")
        if len(value) > limit or "\x00" in value:
            raise ApiError(400, f"{key}: at most {limit} characters, without NUL")
        return value.strip()

    def whole(key: str, default: int, top: int) -> int:
        raw = args.get(key, str(default))
        if not raw.isdigit() or not 1 <= int(raw) <= top:
            raise ApiError(400, f"{key} = {raw!r}: must be a whole number from 1 to {top}")
        return int(raw)

    days = {key: text(key, 10) for key in ("from", "to")}
    for key, value in days.items():
        if value and not _DAY.fullmatch(value):
            raise ApiError(400, f"{key} = {value!r}: give a date as YYYY-MM-DD")
    group = text("group", 20) or "date"
    if group not in GROUPS:
        raise ApiError(400, f"group = {group!r}: one of {', '.join(GROUPS)}")
    return Query(
        q=text("q"),
        specimen=text("specimen"),
        profile=text("profile", 64),
        session=text("session"),
        date_from=days["from"],
        date_to=days["to"],
        group=group,
        page=whole("page", 1, 1_000_000),
        per_page=whole("per_page", PER_PAGE_MAX, PER_PAGE_MAX),
    )


def listing(st: WebState) -> dict[str, Any]:
    """``GET /api/stacks``'s stacks part: the page, the total and the filters' choices."""
    query = listing_query()
    status = st.machine.sequencer.status()
    merge = st.merges.status() or {}
    st.gallery.catalogue.changed(
        (status.run_id, status.frames_saved, status.state, merge.get("stack"), merge.get("state")),
        st.gallery.stack_id(status.folder),
        merge.get("stack"),
    )
    stacks, total = st.gallery.listing(query)
    facets = st.gallery.catalogue.facets() if st.gallery.real_root() else {"sessions": [], "profiles": []}
    return {"stacks": stacks, "total": total, "page": query.page, "per_page": query.per_page, **facets}


def _not_being_shot(st: WebState, sid: str) -> Any:
    folder = st.gallery.folder(sid)
    if used_by_run(folder, st.machine.sequencer.status().to_dict()):
        raise StateError("this stack is being shot right now; change it when the run has ended")
    return folder


@catalogue_api.put("/stacks/<path:sid>/specimen")
def stack_specimen(sid: str) -> ResponseReturnValue:
    st = state()
    data = body({"specimen"}, required={"specimen"})
    specimen = specimen_from(data["specimen"])
    folder = _not_being_shot(st, sid)
    record = set_specimen(folder, specimen)
    st.gallery.catalogue.touch(sid)
    return jsonify({"id": sid, "specimen": record.specimen.to_json() if record.specimen else None})


@catalogue_api.put("/stacks/<path:sid>/crop")
def stack_crop(sid: str) -> ResponseReturnValue:
    """Set (a list ``[x, y, width, height]`` in pixels) or clear (null) the crop of the results;
    the next merge applies it. 400 when it lies outside the stack's images."""
    st = state()
    data = body({"crop"}, required={"crop"})
    crop = data["crop"]
    folder = _not_being_shot(st, sid)
    if crop is not None:
        if not isinstance(crop, list) or len(crop) != 4 or not all(type(v) is int for v in crop):
            raise ApiError(400, "crop must be [x, y, width, height] in whole pixels, or null")
        size = _image_size(folder)
        x, y, w, h = crop
        if size and (w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > size[0] or y + h > size[1]):
            raise ApiError(400, f"crop {crop} is outside the {size[0]}x{size[1]} image")
    record = set_crop(folder, tuple(crop) if crop else None)
    return jsonify({"id": sid, "crop": list(record.crop) if record.crop else None})


def _image_size(folder: Any) -> tuple[int, int] | None:
    """Width and height of the stack's frames (the uncropped result has the same), None if unknown."""
    from PIL import Image, UnidentifiedImageError

    for frame in read_manifest(folder).frames or ():
        if frame.file and not frame.preview:
            try:
                with Image.open(folder / frame.file) as img:
                    return (int(img.size[0]), int(img.size[1]))
            except (OSError, UnidentifiedImageError):
                return None
    return None


@catalogue_api.get("/stacks/<path:sid>/crop")
def stack_crop_get(sid: str) -> ResponseReturnValue:
    """The crop of the results and the size of the stack's images (what a crop is measured on)."""
    folder = state().gallery.folder(sid)
    record = read_manifest(folder)
    size = _image_size(folder)
    return jsonify({"id": sid, "crop": list(record.crop) if record.crop else None, "image_size": size})
