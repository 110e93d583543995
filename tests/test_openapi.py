"""``GET /api/openapi.json``: a valid OpenAPI 3.1 document of the whole JSON API, generated from the
declarations the handlers validate with (rig.web.operations), so the two cannot drift apart.
The schemathesis run over it is tests/test_openapi_fuzz.py."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.config import Profile
from rig.machine import Machine
from rig.web import create_app
from rig.web.inputs import operation_of
from rig.web.security import MUTATING, STOPS
from tests.test_web import Api, sim_config


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Any]]]:
    tmp: Path = tmp_path_factory.mktemp("openapi-doc")
    m = Machine.build(sim_config(tmp / "stacks"), profiles_dir=tmp / "profiles")
    app = create_app(m)
    r = app.test_client().get("/api/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    yield app, r.get_json()
    app.extensions["rig"].shutdown()
    m.close()


def body_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def test_document_is_valid_openapi_31(served: tuple[Any, dict[str, Any]]) -> None:
    # imported here, not at the top: it costs every pytest-xdist worker half a second of CPU to
    # import, and only the one that runs this test needs it (a missing validator still fails it)
    from openapi_spec_validator import validate

    _, doc = served
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


def test_every_json_route_and_method_is_described(served: tuple[Any, dict[str, Any]]) -> None:
    app, doc = served
    described = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        assert operation_of(app.view_functions[rule.endpoint]) is not None, f"{rule.rule} declares no operation"
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes |= {(path, m) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert routes <= described, sorted(routes - described)
    assert ("/api/start", "POST") in described and ("/api/openapi.json", "GET") in described
    assert len(described) >= 37


def test_errors_and_guard_are_described(served: tuple[Any, dict[str, Any]]) -> None:
    _, doc = served
    start = doc["paths"]["/api/start"]["post"]
    assert {"202", "400", "401", "403", "409", "413", "415"} <= set(start["responses"])
    error = start["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert doc["components"]["schemas"]["Error"]["required"] == ["error", "code", "status"]
    assert {"csrf", "pairing", "bearer"} == set(doc["components"]["securitySchemes"])
    assert start["security"] and "security" not in doc["paths"]["/api/status"]["get"]
    assert "404" in doc["paths"]["/api/stacks/{sid}"]["get"]["responses"]


def test_profile_schema_comes_from_the_config_fields(served: tuple[Any, dict[str, Any]]) -> None:
    """Every profile option with its range and choices, as the profile files are checked."""
    _, doc = served
    profile = body_schema(doc, "/api/profiles/{name}", "put")
    assert profile["additionalProperties"] is False
    assert set(profile["properties"]) == {f.name for f in dataclasses.fields(Profile)}
    for f in dataclasses.fields(Profile):
        rng = f.metadata.get("range")
        if rng:
            text = str(profile["properties"][f.name])
            assert f"'minimum': {rng[0]!r}" in text and f"'maximum': {rng[1]!r}" in text, f.name
    slices = profile["properties"]["slices"]["anyOf"]
    assert {"type": "integer", "minimum": 2, "maximum": 999} in slices and {"type": "null"} in slices
    assert profile["properties"]["mode"]["enum"] == ["full", "preview-images", "preview"]
    settle = profile["properties"]["settle_s"]["anyOf"]
    assert {"type": "string", "enum": ["auto"]} in settle
    optics = profile["properties"]["optics"]["anyOf"][0]
    assert optics["properties"]["na"]["anyOf"][0]["exclusiveMaximum"] == 1.6 and len(optics["oneOf"]) == 2
    assert body_schema(doc, "/api/start", "post")["properties"]["profile"]["properties"] == profile["properties"]


def test_a_value_outside_the_document_is_refused_naming_the_field(served: tuple[Any, dict[str, Any]]) -> None:
    """The handler and the document read the same declaration: the document's bounds are the
    handler's, and a field the document does not list is refused."""
    app, doc = served
    api = Api(app)
    jog = body_schema(doc, "/api/jog", "post")
    top = jog["properties"]["delta"]["maximum"]
    r = api.post("/api/jog", {"delta": top * 2})
    assert r.status_code == 400 and r.get_json()["error"].startswith("delta = ") and f"{top:g}" in r.get_json()["error"]
    assert jog["additionalProperties"] is False and len(jog["oneOf"]) == 2
    r = api.post("/api/jog", {"delta": 1, "target": 2})
    assert r.status_code == 400 and r.get_json()["error"] == "give exactly one of delta or target"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method.upper() not in MUTATING or "{" in path or "requestBody" not in op:
                continue
            schema = body_schema(doc, path, method)
            if schema.get("additionalProperties") is False:
                r = api.call(method.upper(), path, {"no_such_field": 1})
                assert r.status_code == 400 and "unknown field 'no_such_field'" in r.get_json()["error"], path
    clock = body_schema(doc, "/api/clock", "post")
    assert clock["required"] == ["time"]
    r = api.post("/api/clock", {"confirm": True})
    assert r.status_code == 400 and r.get_json()["error"] == "missing field 'time'"


def test_query_parameters_come_from_the_same_declaration(served: tuple[Any, dict[str, Any]]) -> None:
    app, doc = served
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/stacks"]["get"]["parameters"]}
    assert set(params) == {"q", "specimen", "profile", "session", "from", "to", "group", "page", "per_page"}
    assert params["per_page"]["maximum"] == 500 and "date" in params["group"]["enum"]
    api = Api(app)
    r = api.get("/api/stacks?per_page=501")
    assert r.status_code == 400 and r.get_json()["error"] == "per_page = '501': must be a whole number from 1 to 500"
    assert api.get("/api/stacks?per_page=500&group=").status_code == 200


def test_the_guard_holds_for_every_described_command(tmp_path: Path) -> None:
    """Every mutating operation the document lists: 401 for an unpaired LAN client (the stops
    excepted, which any viewer may send), 403 without the CSRF token."""
    m = Machine.build(sim_config(tmp_path / "stacks"), profiles_dir=tmp_path / "profiles")
    lan = create_app(m, token="abcd-efgh-jkmn", host="0.0.0.0", addresses=lambda: ["192.168.1.5"])
    try:
        doc = lan.test_client().get("/api/openapi.json", headers={"Host": "192.168.1.5"}).get_json()
        unpaired, paired = lan.test_client(), lan.test_client()
        for client in (unpaired, paired):
            client.environ_base.update(REMOTE_ADDR="192.168.1.20", HTTP_HOST="192.168.1.5")  # a phone on the LAN
        assert paired.get("/pair?token=abcd-efgh-jkmn").status_code == 303
        seen = 0
        for path, ops in doc["paths"].items():
            url = path.replace("{sid}", "x").replace("{name}", "x")
            for method in ops:
                if method.upper() not in MUTATING:
                    continue
                seen += 1
                r = unpaired.open(url, method=method.upper(), json={})
                assert r.status_code == (403 if path in STOPS else 401), (path, r.status_code)
                r = paired.open(url, method=method.upper(), json={})  # paired, without the CSRF token
                assert r.status_code == 403 and r.get_json()["code"] == "csrf", path
        assert seen >= 20
    finally:
        lan.extensions["rig"].shutdown()
        m.close()


# ------------------------------------------------------------------ what schemathesis found
def test_plan_with_a_vanishing_magnification_is_a_400_not_a_500(served: tuple[Any, dict[str, Any]]) -> None:
    """Found by tests/test_openapi_fuzz.py: a magnification inside (0, 50] but so small that the NA
    underflows to 0 made POST /api/plan divide by zero (500)."""
    app, _ = served
    body = {"optics": {"magnification": 1.4293113689494275e-181, "f_number": 120.0}, "profile": {"slices": 549}}
    r = Api(app).post("/api/plan", body)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["error"].startswith("magnification = 1.4293113689494275e-181: too small to plan")
    body["optics"]["magnification"] = 1e-160  # the NA is not 0, but the depth of field overflows to inf
    r = Api(app).post("/api/plan", body)
    assert r.status_code == 400 and "too small to plan" in r.get_json()["error"]
