"""Where the last range sweep's answer is kept between processes: one JSON file per machine config,
``$XDG_CONFIG_HOME/rig/range/<config>-<hash>.json`` (named as rig.calibration_store names the
calibration). The only reader and writer of that file.

Written when a sweep ends with an answer (a range, or "no detail"; a cancelled sweep leaves the
previous one); read when the sequencer is built, so a later ``rig stack``, or ``rig serve`` after a
restart, can warn that a plan misses part of the subject (rig.plan_coverage) from a ``rig range``
run earlier. The file is a cache of a measurement: an unreadable one is ignored, and a failure to
write it is logged, never a fault.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rig.calibration_store import machine_state_path
from rig.config import MachineConfig
from rig.paths import write_replace
from rig.range_sweep import RangeResult

log = logging.getLogger(__name__)


def range_path(config: MachineConfig) -> Path:
    return machine_state_path(config, "range")


class RangeStore:
    """The last range sweep's answer for one machine config."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_config(cls, config: MachineConfig) -> RangeStore:
        return cls(range_path(config))

    def load(self, units: str) -> RangeResult | None:
        """The stored answer, if there is one in ``units`` (the rail's) and it reads back whole."""
        try:
            data = json.loads(self.path.read_text())
            result = RangeResult.from_dict(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring the stored range sweep %s: %s", self.path, exc)
            return None
        return result if result.units == units else None

    def save(self, result: RangeResult) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_replace(self.path, (json.dumps(result.to_dict(), indent=1) + "\n").encode())
        except OSError as exc:
            log.warning("could not keep the range sweep's answer in %s: %s", self.path, exc)
