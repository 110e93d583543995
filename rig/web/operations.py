"""The contract of every JSON endpoint, one :class:`~rig.web.inputs.Operation` each: the handler
is bound to it (``@accepts``) and validates with it, and ``GET /api/openapi.json`` describes it.
Change an input here and both follow. See docs/api.md for what each call does.
"""

from __future__ import annotations

import functools

from rig.config import Profile, ProfileOptics
from rig.config.json_schema import json_schema
from rig.profiles import NAME_RE
from rig.web.catalogue import GROUPS
from rig.web.inputs import (
    MOTION_LIMIT,
    Body,
    Operation,
    Schema,
    choice,
    flag,
    number,
    query_choice,
    query_day,
    query_text,
    query_whole,
    raw,
    specimen_schema,
    text,
)

PER_PAGE_MAX = 500


@functools.cache
def profile_schema() -> Schema:
    """A profile's fields (rig.config.Profile), as ``rig.config.schema.from_table`` checks them."""
    return json_schema(Profile)


@functools.cache
def optics_schema() -> Schema:
    schema = json_schema(ProfileOptics)
    return {**schema, "type": ["object", "null"]}


def crop_schema() -> Schema:
    return {
        "type": ["array", "null"],
        "items": {"type": "integer"},
        "minItems": 4,
        "maxItems": 4,
        "description": "[x, y, width, height] in whole pixels of the frames, or null to clear",
    }


def camera_set_schema() -> Schema:
    return {
        "type": "object",
        "additionalProperties": {"type": ["string", "number"]},
        "description": "setting name to value (GET /api/camera lists them); all are checked before any is made",
    }


PROFILE_NAME: Schema = {"type": "string", "pattern": NAME_RE.pattern, "description": "a saved profile's name"}
NO_BODY = Body()
STATE_CHANGE = Operation(NO_BODY, ok=202, answer="State", errors=(409,))

SESSION = Operation(answer="Session")
STATUS = Operation(answer="State")
EVENTS = Operation(answer="EventStream", errors=(503,))
START = Operation(
    Body(
        (
            text("name", 64, "a saved profile to start from (its fields, then `profile`'s on top)"),
            raw("profile", profile_schema, "profile fields; null clears an optional one", absent={}),
            raw("specimen", specimen_schema, "what the stack is of"),
        )
    ),
    ok=202,
    answer="State",
    errors=(409,),
)
CANCEL = STATE_CHANGE
ESTOP = Operation(NO_BODY, answer="State")
RESET = Operation(NO_BODY, answer="State", errors=(409,))
JOG = Operation(
    Body(
        (
            number("delta", -MOTION_LIMIT, MOTION_LIMIT, "um", "move by this much"),
            number("target", -MOTION_LIMIT, MOTION_LIMIT, "um", "move to this position"),
        ),
        exactly_one=("delta", "target"),
    ),
    ok=202,
    answer="State",
    errors=(409,),
)
HOME = STATE_CHANGE
PLAN = Operation(
    Body(
        (
            raw("profile", profile_schema, "the profile to plan", required=True),
            raw("optics", optics_schema, "the lens and sensor; default: the profile's [optics]"),
        )
    ),
    answer="Plan",
)
CONTROL = Operation(
    Body((choice("action", ("take", "release"), required=True), flag("force", False, "take over from another client"))),
    answer="Control",
    errors=(409,),
)
PROFILE_SCHEMA = Operation()
PROFILES = Operation()
PROFILE_GET = Operation(path={"name": PROFILE_NAME}, errors=(400, 404))
PROFILE_PUT = Operation(Body(whole=profile_schema), path={"name": PROFILE_NAME})
PROFILE_DELETE = Operation(NO_BODY, path={"name": PROFILE_NAME}, errors=(404,))
STACKS = Operation(
    query=(
        query_text("q", help="words that must all appear"),
        query_text("specimen", help="exact specimen name"),
        query_text("profile", 64, help="exact profile name"),
        query_text("session", help="exact session"),
        query_day("from", "first start date, YYYY-MM-DD"),
        query_day("to", "last start date, YYYY-MM-DD"),
        query_choice("group", GROUPS, "sort and group by"),
        query_whole("page", 1, 1_000_000, "page, from 1"),
        query_whole("per_page", PER_PAGE_MAX, PER_PAGE_MAX, "stacks per page"),
    ),
    answer="Stacks",
)
STACK = Operation(errors=(404, 422))
STACK_DELETE = Operation(NO_BODY, errors=(404, 409))
STACK_MERGE = Operation(
    Body((flag("align", True, "align the frames first"),)), ok=202, answer="Merge", errors=(404, 409, 422)
)
STACK_MERGE_CANCEL = Operation(NO_BODY, answer="Merge", errors=(409,))
STACK_RESUME = Operation(
    Body((flag("position_confirmed", False, "the user has checked where the rail is (no home switch)"),)),
    ok=202,
    answer="State",
    errors=(404, 409),
)
STACK_SPECIMEN = Operation(Body((raw("specimen", specimen_schema, required=True),)), errors=(404, 409))
STACK_CROP = Operation(Body((raw("crop", crop_schema, required=True),)), errors=(404, 409))
STACK_CROP_GET = Operation(errors=(404,))
STACK_IMAGE_SIZE = Operation(errors=(404,))
RUN_CHECKS = Operation()
SYSTEM = Operation()
CLOCK = Operation(
    Body(
        (number("time", 0, 1e11, "s", "the browser's time, seconds since 1970", required=True), flag("confirm", False))
    ),
    errors=(409,),
)
PAUSE = STATE_CHANGE
RESUME = STATE_CHANGE
LIVE = Operation()
RANGE = Operation(
    Body(
        (
            number("from_um", -MOTION_LIMIT, MOTION_LIMIT, "um", "one end of the sweep"),
            number("to_um", -MOTION_LIMIT, MOTION_LIMIT, "um", "the other end"),
        ),
        both_or_neither=("from_um", "to_um"),
    ),
    ok=202,
    answer="State",
    errors=(409,),
)
RANGE_RESULT = Operation()
CAMERA = Operation()
CAMERA_SET = Operation(Body((raw("set", camera_set_schema, required=True),)), errors=(409,))
OPENAPI = Operation()
