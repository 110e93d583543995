"""``GET /api/openapi.json``: the OpenAPI 3.1 description of the JSON API, generated from the
app's own routes and the :class:`~rig.web.inputs.Operation` each JSON view is bound to (the same
declarations its handler validates with, rig.web.operations), so it is never written twice.

Paths and methods come from Flask's URL map, request bodies and query parameters from the
operations, profiles from ``rig.config``'s field metadata (rig.config.json_schema). The answers'
schemas below describe the shared answer shapes; the status snapshot's keys come from
``rig.sequencer_state.Status``. See docs/api.md.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from rig import __version__
from rig.sequencer_state import Outcome, State, Status
from rig.web import operations as ops
from rig.web.inputs import Operation, Schema, accepts, operation_of
from rig.web.security import MUTATING

openapi_api = Blueprint("openapi_api", __name__, url_prefix="/api")
EXTENSION = "rig.openapi"
_ARG = re.compile(r"<(?:(\w+):)?(\w+)>")
MESSAGES = {
    400: "bad input: the one-line message names the field (not JSON, wrong type, out of range, missing or unknown)",
    401: "this device is not paired with the rig (LAN mode)",
    403: "Host not allowed, CSRF token missing or stale, or cross-origin (`code`: host or csrf)",
    404: "no such stack, file or profile",
    409: "the rig's state forbids it now (`code`: state) or another client has control (`code`: control)",
    413: "body over 64 KiB",
    415: "body not sent as application/json",
    422: "the stack's stack.json is not a readable rig manifest (`code`: manifest)",
    503: "server-side trouble: disk, camera, too many streams, merge unavailable",
}
MERGE_STATES = ["running", "done", "failed", "cancelled"]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **props: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": props}


def components() -> Schema:
    status_keys = [f.name for f in dataclasses.fields(Status)] + ["phase", "busy"]
    status = _obj(
        status_keys,
        state={"enum": [s.value for s in State]},
        outcome={"enum": [o.value for o in Outcome] + [None]},
        busy={"type": "boolean"},
    )
    control = _obj(
        ["held", "mine", "holder", "since", "version"],
        held={"type": "boolean"},
        mine={"type": "boolean"},
        holder={"type": ["string", "null"]},
        version={"type": "integer"},
    )
    merge = {
        "type": ["object", "null"],
        "properties": {"state": {"enum": MERGE_STATES}, "progress": {"type": "number"}},
    }
    schemas: dict[str, Schema] = {
        "Error": _obj(
            ["error", "code", "status"],
            error={"type": "string", "minLength": 1},
            code={"type": ["string", "null"]},
            status={"type": "integer"},
        ),
        "Status": status,
        "Control": control,
        "Merge": merge,
        "State": _obj(
            ["status", "control", "merge", "run"],
            status=_ref("Status"),
            control=_ref("Control"),
            merge=_ref("Merge"),
            run={"type": ["object", "null"]},
        ),
        "Session": _obj(
            ["csrf", "paired", "lan", "loopback", "control", "can_home", "version"],
            csrf={"type": "string"},
            paired={"type": "boolean"},
            control=_ref("Control"),
        ),
        "Plan": _obj(["optics", "coverage", "slices", "step", "start", "end", "travel", "units", "estimate"]),
        "Stacks": _obj(
            ["root", "stacks", "total", "page", "per_page", "sessions", "profiles", "interrupted", "not_updated"],
            stacks={"type": "array", "items": {"type": "object"}},
            total={"type": "integer"},
            merge=_ref("Merge"),
        ),
        "Object": {"type": "object"},
    }
    return schemas


def _path_parameters(rule: Any, op: Operation) -> tuple[str, list[Schema]]:
    params = []
    for converter, name in _ARG.findall(rule.rule):
        schema = dict(op.path.get(name, {"type": "string", "minLength": 1}))
        text = "a stack id: its folder relative to output.root (may hold /)" if converter == "path" else ""
        params.append({"name": name, "in": "path", "required": True, "schema": schema, "description": text})
    return _ARG.sub(r"{\2}", rule.rule), params


def _responses(op: Operation, method: str, has_path: bool) -> Schema:
    if op.answer == "EventStream":
        ok: Schema = {
            "description": "server-sent events",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    else:
        ok = {"description": "OK", "content": {"application/json": {"schema": _ref(op.answer)}}}
    codes = {403, 503, *op.errors}
    if op.query:
        codes.add(400)
    if method in MUTATING:
        codes |= {400, 401, 413, 415}
    if has_path:
        codes.add(404)
    out: Schema = {str(op.ok): ok}
    for code in sorted(codes):
        out[str(code)] = {
            "description": MESSAGES.get(code, "error"),
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return out


def _operation(app: Flask, rule: Any, method: str, op: Operation) -> tuple[str, Schema]:
    view = app.view_functions[rule.endpoint]
    doc = inspect.getdoc(view) or ""
    path, params = _path_parameters(rule, op)
    params += [
        {"name": f.name, "in": "query", "required": False, "schema": f.schema(), "description": f.help}
        for f in op.query
    ]
    out: Schema = {
        "operationId": f"{rule.endpoint.replace('.', '_')}_{method.lower()}",
        "summary": doc.split("\n\n")[0].replace("\n", " ") or f"{method} {path} (docs/api.md)",
        "tags": [rule.endpoint.split(".")[0]],
        "parameters": params,
        "responses": _responses(op, method, bool(_ARG.search(rule.rule))),
    }
    if op.body is not None:
        schema = op.body.schema()
        out["requestBody"] = {
            "required": bool(schema.get("required")),
            "description": "a JSON object; an empty body counts as {}",
            "content": {"application/json": {"schema": schema}},
        }
    if method in MUTATING:
        out["security"] = [{"csrf": []}, {"pairing": [], "csrf": []}, {"bearer": []}]
    return path, out


def document(app: Flask) -> Schema:
    """The OpenAPI 3.1 document of every view of ``app`` bound to an operation."""
    paths: dict[str, Schema] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op = operation_of(app.view_functions[rule.endpoint])
        if op is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            path, operation = _operation(app, rule, method, op)
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rig web API",
            "version": __version__,
            "description": "The focus-stacking rig's JSON API (docs/api.md). Errors are "
            '{"error": "<one line naming the field>", "code": <string|null>, "status": <int>}; no input gives a 500.',
        },
        "paths": paths,
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "csrf": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-CSRF-Token",
                    "description": "from GET /api/session",
                },
                "pairing": {"type": "apiKey", "in": "cookie", "name": "rig_pair", "description": "set by /pair (LAN)"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "the pairing token (scripts)"},
            },
        },
    }


@openapi_api.get("/openapi.json")
@accepts(ops.OPENAPI)
def openapi() -> ResponseReturnValue:
    """This document (OpenAPI 3.1)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    doc = app.extensions.get(EXTENSION)
    if doc is None:
        doc = app.extensions[EXTENSION] = document(app)
    return jsonify(doc)
