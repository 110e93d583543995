"""schemathesis over ``GET /api/openapi.json`` against the real app in-process (WSGI, the simulated
rig with instant moves and tiny frames): at least 200 generated cases per operation (valid and
invalid data), no server error, every status and body as the document says, and data the document
forbids refused. A paired client (loopback) with its CSRF token reaches the handlers; the rig is
brought back to idle after every case, so the moving calls (start, jog, home, range) stay safe.

The run takes a while (docs/reliability.md has the figure), so it is marked ``openapi_fuzz``;
``RIG_OPENAPI_CASES`` changes the cases per operation.
"""

from __future__ import annotations

import os
import time
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
from tests.test_web import idle, sim_config

CASES = int(os.environ.get("RIG_OPENAPI_CASES", "200"))
CLIENT = "openapi-fuzz-client-0001"  # a fixed client id (the rig_client cookie)
STREAMS = {"/api/events"}  # endless: described, not fuzzed
pytestmark = pytest.mark.openapi_fuzz


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Machine]]:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    m = Machine.build(sim_config(tmp / "stacks"), profiles_dir=tmp / "profiles")
    app = create_app(m)
    yield app, m
    app.extensions["rig"].shutdown()
    m.close()


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
    found = [result.ok() for result in schema.get_all_operations()]
    return sorted((op for op in found if op.path not in STREAMS), key=lambda op: (op.path, op.method))


def fuzz_operation(app: Any, m: Machine, op: Any) -> int:
    """Run CASES generated cases (valid and invalid data mixed) against ``op``; the number run."""
    csrf = app.extensions["rig"].guard.csrf_for(CLIENT)
    headers = {"X-CSRF-Token": csrf, "Cookie": f"rig_client={CLIENT}"}
    cases = st.one_of(op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE))
    seen = 0

    @settings(
        max_examples=CASES,
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
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        finally:
            back_to_idle(m)

    run()
    return seen


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
PARTS = 4  # the operations are split over this many tests, so pytest-xdist spreads them


@pytest.mark.parametrize("part", range(PARTS))
def test_api_conforms_and_never_fails(rig: tuple[Any, Machine], part: int) -> None:
    app, m = rig
    failures, counts = [], {}
    t0 = time.monotonic()
    for i, op in enumerate(operations(app)):
        if i % PARTS != part:
            continue
        try:
            counts[op.label] = fuzz_operation(app, m, op)
        except Exception as exc:  # noqa: BLE001 - every operation is run; all failures are reported
            failures.append(f"{op.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    print(f"part {part}: {len(counts)} operations, cases {counts}, {time.monotonic() - t0:.1f} s")
    assert not failures, "\n\n".join(failures)
