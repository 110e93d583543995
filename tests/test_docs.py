"""Docs mirror the surfaces they describe."""

from __future__ import annotations

from pathlib import Path

from rig.config.docs import render

ROOT = Path(__file__).resolve().parent.parent


def test_config_reference_is_up_to_date():
    assert (ROOT / "docs/config.md").read_text() == render(), "run: python -m rig.config.docs > docs/config.md"


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("```")[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]
