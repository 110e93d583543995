"""The gallery's listing (search, filters, grouping, pages: :mod:`rig.web.catalogue`) and a
stack's archive fields: its specimen and the crop of its results (docs/api.md)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from rig.errors import StateError
from rig.manifest import read_manifest, set_crop, set_specimen
from rig.web import operations as ops
from rig.web.catalogue import Query
from rig.web.context import WebState, state
from rig.web.gallery import used_by_run
from rig.web.inputs import accepts, read_body, read_query
from rig.web.jsonio import specimen_from
from rig.web.security import ApiError

catalogue_api = Blueprint("catalogue_api", __name__, url_prefix="/api")


def listing_query() -> Query:
    """The listing's query string: ``q``, ``specimen``, ``profile``, ``session``, ``from``, ``to``
    (YYYY-MM-DD), ``group`` (date|specimen|profile|session), ``page``, ``per_page``; 400 naming
    the parameter that will not do (declared in rig.web.operations.STACKS)."""
    args = read_query()
    return Query(
        q=args["q"],
        specimen=args["specimen"],
        profile=args["profile"],
        session=args["session"],
        date_from=args["from"],
        date_to=args["to"],
        group=args["group"],
        page=args["page"],
        per_page=args["per_page"],
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
@accepts(ops.STACK_SPECIMEN)
def stack_specimen(sid: str) -> ResponseReturnValue:
    st = state()
    data = read_body()
    specimen = specimen_from(data["specimen"])
    folder = _not_being_shot(st, sid)
    record = set_specimen(folder, specimen)
    st.gallery.catalogue.touch(sid)
    return jsonify({"id": sid, "specimen": record.specimen.to_json() if record.specimen else None})


@catalogue_api.put("/stacks/<path:sid>/crop")
@accepts(ops.STACK_CROP)
def stack_crop(sid: str) -> ResponseReturnValue:
    """Set (a list ``[x, y, width, height]`` in pixels) or clear (null) the crop of the results;
    the next merge applies it. 400 when it lies outside the stack's images."""
    st = state()
    data = read_body()
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
@accepts(ops.STACK_CROP_GET)
def stack_crop_get(sid: str) -> ResponseReturnValue:
    """The crop of the results and the size of the stack's images (what a crop is measured on)."""
    folder = state().gallery.folder(sid)
    record = read_manifest(folder)
    size = _image_size(folder)
    return jsonify({"id": sid, "crop": list(record.crop) if record.crop else None, "image_size": size})
