"""Write docs/config.md from the config dataclasses: ``python -m rig.config.docs > docs/config.md``."""

from __future__ import annotations

from rig.config import MachineConfig, Profile
from rig.config.schema import describe

HEADER = """# Configuration reference

Generated from `rig/config/` by `python -m rig.config.docs > docs/config.md`; a test keeps the two
in step. Every value is checked when the file is loaded: an unknown key, a wrong type, NaN/inf or an
out-of-range value stops with one line naming the file, the option and what is allowed, and the CLI
exits with status 2 before anything moves or any file is written.

## Machine config (`--config FILE`, TOML)

With no `--config` the built-in **simulated rig** is used (all defaults below). Sub-tables such as
`[rail.gpio]` only matter when that backend is selected. Examples: `config/*.toml`.

```toml
[rail]
backend = "gpio"
steps_per_mm = 3200     # 200 steps/rev x 16 microsteps / 1 mm lead
max_um = 80000
[rail.gpio]
step_pin = 17
dir_pin = 27
enable_pin = 22
[camera]
backend = "gphoto"
[output]
root = "/var/lib/rig/stacks"
```

"""

PROFILE_HEADER = """
## Stack profiles (`rig profile save NAME ...`, TOML in `$XDG_CONFIG_HOME/rig/profiles/NAME.toml`)

Command-line options of `rig stack` and `rig profile save` use the same names with dashes
(`--step-um`, `--settle-s`, ...). Slices, step and travel follow these rules:

- no `start_um`/`end_um`: the stack starts where the rail is and makes `slices` frames `step_um` apart
  (defaults 20 and 100);
- `start_um` and `end_um`: `slices` gives the step, or `step_um` gives the number of slices;
- the whole travel is checked against `rail.min_um`..`rail.max_um` before anything moves;
- on the lens rail (`rail.backend = "lens"`) positions and steps are lens steps, not um, and the
  travel is `rail.lens.min_steps`..`rail.lens.max_steps`.

"""


def table(rows: list[tuple[str, str, str, str, str]]) -> str:
    lines = ["| option | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for name, tp, default, allowed, help_text in rows:
        cells = [f"`{name}`", tp, f"`{default}`", allowed or "any", help_text]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render() -> str:
    machine_rows = [r for r in describe(MachineConfig) if r[0] != "source"]
    return HEADER + table(machine_rows) + PROFILE_HEADER + table(describe(Profile))


if __name__ == "__main__":
    print(render(), end="")
