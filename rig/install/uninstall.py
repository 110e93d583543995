"""The uninstall plan: what ``rig uninstall`` would do on this machine, computed from its current
state (see :mod:`rig.install` for the step model; the install plan is :mod:`rig.install.plan`)."""

from __future__ import annotations

import os

from rig.install import CONFIG, KIOSK_ENV, KIOSK_USER, PREFIX, STATE, TARGETS, UNIT_DIR, UNITS, USER, Remove, Run, Step
from rig.install.field_kit import hotspot_removal
from rig.install.host import Host


def plan_uninstall(host: Host) -> list[Step]:
    present = [u for u in UNITS if host.exists(f"{UNIT_DIR}/{u}")]
    steps = [
        Step(
            "stop",
            "stop and disable the services",
            tuple(Run(("systemctl", "disable", "--now", u)) for u in reversed(present))
            + ((Run(("systemctl", "start", "getty@tty1.service")),) if "rig-kiosk.service" in present else ()),
            done=None if present else "not installed",
        )
    ]
    removable = [TARGETS[k] for k in TARGETS] + [f"{UNIT_DIR}/rig.service.d", KIOSK_ENV]
    for path in removable:
        tree = path.endswith(".d")
        steps.append(
            Step(
                f"remove:{path}", f"remove {path}", (Remove(path, tree),), done=None if host.exists(path) else "absent"
            )
        )
    link = host.path("/usr/local/bin/rig")
    ours = link.is_symlink() and os.readlink(link).startswith(PREFIX)
    steps.append(
        Step(
            "remove:/usr/local/bin/rig",
            "remove the `rig` command link",
            (Remove("/usr/local/bin/rig"),),
            done=None if ours else "absent (or not ours)",
        )
    )
    steps.append(
        Step(
            f"remove:{PREFIX}",
            f"remove the program {PREFIX} (virtualenv, scripts, docs)",
            (Remove(PREFIX, tree=True),),
            done=None if host.exists(PREFIX) else "absent",
        )
    )
    steps += hotspot_removal(host)
    steps.append(
        Step(
            "reload",
            "reload systemd and udev",
            (Run(("systemctl", "daemon-reload")), Run(("udevadm", "control", "--reload-rules"))),
            done=None if any(s.pending for s in steps) else "nothing changed",
        )
    )
    kept = (
        f"kept: the stacks and data in {STATE} (and any output.root configured elsewhere)",
        f"kept: the config {CONFIG}",
        f"kept: the users {USER} and {KIOSK_USER} (they own the stacks); remove by hand: "
        f"sudo userdel {KIOSK_USER}; sudo userdel {USER}",
        "kept: apt packages (python3-lgpio, python3-picamera2, cage, chromium ...)",
    )
    steps.append(Step("kept", "left in place", (), done="nothing to do", notes=kept))
    return steps
