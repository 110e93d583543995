"""schemathesis over ``GET /api/openapi.json`` against the real app in-process (WSGI, the simulated
rig with instant moves and tiny frames): at least 200 generated cases per operation (valid and
invalid data), no server error, every status and body as the document says, and data the document
forbids refused. A paired client (loopback) with its CSRF token reaches the handlers; the rig is
brought back to idle after every case, so the moving calls (start, jog, home, range) stay safe.

The run takes a while (docs/reliability.md has the figure), so it is marked ``openapi_fuzz``;
``RIG_OPENAPI_CASES`` changes the cases per operation.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from rig.machine import Machine
from rig.web import create_app
from tests.test_web import idle, sim_config, wait_for

CASES = int(os.environ.get("RIG_OPENAPI_CASES", "200"))
QUICK = 2  # cases per operation in the default run
CLIENT = "openapi-fuzz-client-0001"  # a fixed client id (the rig_client cookie)
COOKIES = {"rig_client": CLIENT}
SHOT = {"slices": 3, "settle_s": 0, "step_um": 50}
STREAMS = {"/api/events"}  # endless: described, not fuzzed
log = logging.getLogger(__name__)


def build_rig(tmp: Path) -> Iterator[tuple[Any, Machine]]:
    m = Machine.build(sim_config(tmp / "stacks"), profiles_dir=tmp / "profiles")
    app = create_app(m)
    client = app.test_client()
    client.set_cookie("rig_client", CLIENT)
    r = client.post("/api/start", json={"profile": SHOT}, headers=auth(app))
    assert r.status_code == 202, r.get_json()
    idle(m)  # one real stack, so the stack calls reach their handlers too (real_stack below)
    yield app, m
    app.extensions["rig"].shutdown()
    m.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Machine]]:
    yield from build_rig(tmp_path_factory.mktemp("openapi"))


@pytest.fixture
def fresh_rig(tmp_path: Path) -> Iterator[tuple[Any, Machine]]:
    """A rig of its own: not the hundreds of profiles the fuzzed PUTs leave behind."""
    yield from build_rig(tmp_path)


def back_to_idle(m: Machine) -> None:
    """End whatever the case started: cancel a run, a move or a merge; leave a fault."""
    seq = m.sequencer
    if seq.status().busy:
        try:
            seq.cancel()
        except Exception:  # noqa: BLE001 - it may have ended on its own
            pass
        idle(m)
    if seq.status().state.value == "fault":
        seq.reset()
    if m.merges.busy:
        try:
            m.merges.cancel()
        except Exception:  # noqa: BLE001
            pass


def operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    schema.config.generation.update(with_security_parameters=False)  # the real token and cookie are sent
    found = [result.ok() for result in schema.get_all_operations()]
    return sorted((op for op in found if op.path not in STREAMS), key=lambda op: (op.path, op.method))


def has_inputs(op: Any) -> bool:
    return bool(op.path_parameters or op.query or op.body)


def auth(app: Any) -> dict[str, str]:
    """What a paired browser on the rig sends: its CSRF token (and its client cookie, COOKIES)."""
    return {"X-CSRF-Token": app.extensions["rig"].guard.csrf_for(CLIENT)}


def real_stack(app: Any) -> str:
    stacks = app.test_client().get("/api/stacks").get_json()["stacks"]
    return str(stacks[0]["id"])


def fuzz_operation(app: Any, m: Machine, op: Any, count: int = CASES) -> int:
    """Run ``count`` generated cases (valid and invalid data mixed) against ``op``; the number run.
    A stack id is, in a third of them, the real stack's (except for its deletion)."""
    headers = auth(app)
    modes = [op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)]
    if "sid" in {p.name for p in op.path_parameters} and op.method.upper() != "DELETE":
        modes.append(op.as_strategy(GenerationMode.POSITIVE, path_parameters={"sid": real_stack(app)}))
    cases = st.one_of(modes)
    seen = 0
    codes: Counter[int] = Counter()

    @settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(cases)
    def run(case: Any) -> None:
        nonlocal seen
        seen += 1
        response = case.call(headers=headers, cookies=COOKIES)
        codes[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        finally:
            back_to_idle(m)

    run()
    log.info("%s: %d cases, answers %s", op.label, seen, dict(sorted(codes.items())))
    return seen


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
PARTS = 4  # the operations with inputs are split over this many tests, so pytest-xdist spreads them


def fuzz_part(app: Any, m: Machine, part: int, parts: int, count: int) -> None:
    """Fuzz every ``parts``-th operation with inputs (from ``part``), ``count`` cases each; all
    failures are reported together."""
    failures, counts = [], {}
    t0, c0 = time.monotonic(), time.process_time()
    for i, op in enumerate(op for op in operations(app) if has_inputs(op)):
        if i % parts != part:
            continue
        try:
            counts[op.label] = fuzz_operation(app, m, op, count)
        except Exception as exc:  # noqa: BLE001 - every operation is run; all failures are reported
            failures.append(f"{op.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    took, cpu = time.monotonic() - t0, time.process_time() - c0
    log.info("part %d: %d operations, %.1f s (%.1f s CPU), cases %s", part, len(counts), took, cpu, counts)
    assert not failures, "\n\n".join(failures)
    assert counts and all(n >= count for n in counts.values()), counts


@pytest.mark.openapi_fuzz
@pytest.mark.timeout(1800)  # minutes on a loaded machine
@pytest.mark.parametrize("part", range(PARTS))
def test_generated_requests_conform_and_never_fail(rig: tuple[Any, Machine], part: int) -> None:
    app, m = rig
    fuzz_part(app, m, part, PARTS, CASES)


def test_a_few_generated_requests_per_operation(rig: tuple[Any, Machine]) -> None:
    """The quick version in every run: QUICK cases per operation with inputs."""
    app, m = rig
    fuzz_part(app, m, 0, 1, QUICK)


STATES = 5


def rig_states(app: Any, m: Machine) -> Iterator[str]:
    """Leave the rig in each state a reader may meet: idle, running, paused, jogging, fault."""
    client = app.test_client()
    client.set_cookie("rig_client", CLIENT)
    headers = auth(app)

    def post(url: str, body: Any) -> None:
        r = client.post(url, json=body, headers=headers)
        assert r.status_code < 300, r.get_json()

    yield "idle"
    post("/api/start", {"profile": {"slices": 5, "settle_s": 0.5, "start_um": 1000, "step_um": 100}})
    post("/api/pause", {})  # at once: the run stops after its first slice's settle
    wait_for(lambda: m.sequencer.status().state.value == "paused", what="paused")
    yield "paused"
    back_to_idle(m)
    post("/api/start", {"profile": {"slices": 5, "settle_s": 600, "start_um": 1000, "step_um": 100}})
    wait_for(lambda: m.sequencer.status().state.value == "settling", what="settling")
    yield "running"  # settling until the estop below
    post("/api/estop", {})
    yield "fault"
    back_to_idle(m)
    yield "after a cancelled run"


@pytest.mark.openapi_fuzz
@pytest.mark.timeout(1800)
def test_read_only_calls_in_every_state(fresh_rig: tuple[Any, Machine]) -> None:
    """The operations without inputs (status, session, system, ...): CASES calls each, spread over
    the rig's states, every answer as the document says."""
    app, m = fresh_rig
    t0 = time.process_time()
    readers = [op for op in operations(app) if not has_inputs(op)]
    headers = auth(app)
    counts = dict.fromkeys((op.label for op in readers), 0)
    rounds = -(-CASES // STATES)
    for _state in rig_states(app, m):
        for op in readers:
            for _ in range(rounds):
                case = op.Case()
                case.validate_response(case.call(headers=headers, cookies=COOKIES), checks=CHECKS, headers=headers)
                counts[op.label] += 1
    back_to_idle(m)
    log.info("readers: %s calls, %.1f s CPU", counts, time.process_time() - t0)
    assert len(readers) >= 9 and all(n >= CASES for n in counts.values()), counts
