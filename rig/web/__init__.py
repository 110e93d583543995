"""The web UI and JSON API over a :class:`rig.machine.Machine` (the only package that imports Flask).

``create_app(machine, token=..., host=...)`` builds the Flask app; ``rig serve`` runs it
under waitress. Templates and static files live in the top-level ``web/`` folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from rig.machine import Machine

__all__ = ["create_app"]


def create_app(machine: Machine, **kwargs: Any) -> Flask:
    from rig.web.app import create_app as _create

    return _create(machine, **kwargs)
