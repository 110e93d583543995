"""Find the contract harnesses: ``tests/harness/<kind>_<backend>.py`` with ``make_<kind>``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest


def harness_params(kind: str, backends: tuple[str, ...]) -> list:
    """One parameter per backend, or per variant when a harness lists ``VARIANTS``."""
    params = []
    for backend in backends:
        try:
            harness = importlib.import_module(f"tests.harness.{kind}_{backend}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tests.harness.{kind}_{backend}":
                raise
            params.append(pytest.param((backend, None), id=backend))
            continue
        for variant in getattr(harness, "VARIANTS", (None,)):
            params.append(pytest.param((backend, variant), id=f"{backend}-{variant}" if variant else backend))
    return params


def make(kind: str, param: tuple[str, str | None], tmp_path: Path) -> Any:
    """The harness's ``make_<kind>(tmp_path[, variant])`` context manager, or a skip."""
    backend, variant = param
    try:
        harness = importlib.import_module(f"tests.harness.{kind}_{backend}")
    except ModuleNotFoundError:
        pytest.skip(f"no harness for the {backend} {kind} yet")
    args = (tmp_path,) if variant is None else (tmp_path, variant)
    return getattr(harness, f"make_{kind}")(*args)
