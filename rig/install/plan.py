"""The install plan: what ``rig install`` would do on this machine, computed from its current
state (see :mod:`rig.install` for the step model; ``rig uninstall``'s plan is :mod:`rig.install.uninstall`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rig.errors import UsageError
from rig.install import (
    ASSETS,
    BASE_PACKAGES,
    CONFIG,
    DEVICE_GROUPS,
    DROPIN,
    KIOSK_ENV,
    KIOSK_GROUPS,
    KIOSK_USER,
    PI_PACKAGES,
    PREFIX,
    SHARE,
    STACKS,
    STATE,
    TARGETS,
    UNIT_DIR,
    USER,
    VENV,
    Action,
    Mkdir,
    Options,
    Remove,
    Run,
    Step,
    Symlink,
    Write,
    check_source,
)
from rig.install.config import Existing, checked_example_config, read_existing, service_dropin
from rig.install.field_kit import hotspot_steps
from rig.install.host import Host


def _file_step(host: Host, key: str, title: str, write: Write) -> Step:
    current = host.path(write.path)
    same = host.read(write.path) == write.content and (current.stat().st_mode & 0o7777) == write.mode
    return Step(key, title, (write,), done="up to date" if same else None)


def plan_install(host: Host, opts: Options, assets: Path) -> list[Step]:
    """Every step of ``rig install``, in order; the ones already in place are marked done."""
    if opts.source is not None:
        check_source(opts.source)
    existing = read_existing(host, CONFIG)
    kiosk, kiosk_notes = _want_kiosk(host, opts)
    out_root = existing.output_root if existing else STACKS
    steps: list[Step] = []
    if opts.apt:
        steps.append(_packages_step(host, kiosk, opts.field_kit))
    steps += _account_steps(host, opts, kiosk)
    steps.append(_folders_step(host, out_root))
    steps += _python_steps(host, opts)
    steps += _file_steps(host, assets, kiosk)
    steps.append(_config_step(host, opts, existing))
    steps += hotspot_steps(host, opts)
    steps += _service_env_steps(host, existing, out_root)
    pin = existing.system.shutdown_pin if existing else opts.shutdown_pin
    steps += _activate(steps, kiosk, kiosk_notes, pin, opts)
    return steps


def _packages_step(host: Host, kiosk: bool, field_kit: bool = False) -> Step:
    """The apt packages rig needs (the kiosk's compositor and browser, the hotspot's DHCP server)."""
    wanted = list(BASE_PACKAGES) + (list(PI_PACKAGES) if host.raspberry_pi_os() else [])
    if kiosk:
        wanted += ["cage", host.chromium_package()]
    if field_kit:
        wanted.append("dnsmasq-base")  # NetworkManager's ipv4.method shared runs dnsmasq for DHCP
    missing = [p for p in wanted if p not in host.installed(wanted)]
    notes = () if host.raspberry_pi_os() else ("not Raspberry Pi OS: python3-lgpio/python3-picamera2 skipped",)
    return Step(
        "apt",
        "apt packages: " + " ".join(wanted),
        (Run(("apt-get", "update")), Run(("apt-get", "install", "-y", "--no-install-recommends", *missing))),
        done=None if missing else "all installed",
        notes=notes,
    )


def _account_steps(host: Host, opts: Options, kiosk: bool) -> list[Step]:
    """The device groups, the service (and kiosk) users, and the admin's membership."""
    steps = [
        Step(
            f"group:{group}",
            f"group {group}",
            (Run(("groupadd", "--system", group)),),
            done="exists" if group in host.groups() else None,
        )
        for group in dict.fromkeys(DEVICE_GROUPS + (KIOSK_GROUPS if kiosk else ()))
    ]
    steps.append(_user_step(host, USER, STATE, DEVICE_GROUPS, "rig focus-stacking controller", create_home=False))
    if kiosk:
        steps.append(
            _user_step(
                host, KIOSK_USER, f"/var/lib/{KIOSK_USER}", KIOSK_GROUPS, "rig touchscreen kiosk", create_home=True
            )
        )
    if opts.admin_user and opts.admin_user != "root":
        member = USER in host.groups() and opts.admin_user in host.groups()[USER]
        steps.append(
            Step(
                f"admin:{opts.admin_user}",
                f"let {opts.admin_user} read the stacks (group {USER})",
                (Run(("usermod", "--append", "--groups", USER, opts.admin_user)),),
                done="already a member" if member else None,
            )
        )
    return steps


def _folders_step(host: Host, out_root: str) -> Step:
    dirs = [Mkdir("/etc/rig"), Mkdir(STATE, 0o750, f"{USER}:{USER}"), Mkdir(out_root, 0o750, f"{USER}:{USER}")]
    missing_dirs = tuple(d for d in dirs if not host.path(d.path).is_dir())
    return Step(
        "dirs",
        "folders: config /etc/rig, data " + STATE + ", stacks " + out_root,
        missing_dirs,
        done=None if missing_dirs else "exist",
    )


def _python_steps(host: Host, opts: Options) -> list[Step]:
    """The virtualenv, rig installed into it (from --source, or the one already there), and
    the `rig` command on the PATH."""
    site = host.venv_has_system_site_packages(VENV)
    steps = [
        Step(
            "venv",
            f"virtualenv {VENV} (sees apt's lgpio and picamera2)",
            (Run(("python3", "-m", "venv", "--system-site-packages", VENV)),),
            done="exists, with system site packages" if site else None,
        )
    ]
    if opts.source:
        pip = (f"{VENV}/bin/pip", "install", "--upgrade", "--upgrade-strategy", "only-if-needed", str(opts.source))
        steps.append(Step("pip", f"install rig from {opts.source} into the virtualenv", (Run(pip),)))
    elif host.exists(f"{VENV}/bin/rig"):
        steps.append(
            Step("pip", "install rig into the virtualenv", (), done="no --source given: keeping the installed rig")
        )
    else:
        raise UsageError(
            f"rig is not installed in {VENV} yet, so there is nothing to keep: pass --source CHECKOUT "
            "(the rig folder holding pyproject.toml), or run scripts/install-pi.sh from the checkout"
        )
    link = host.path("/usr/local/bin/rig")
    linked = link.is_symlink() and os.readlink(link) == f"{VENV}/bin/rig"
    steps.append(
        Step(
            "link",
            "`rig` on the PATH",
            (Symlink("/usr/local/bin/rig", f"{VENV}/bin/rig"),),
            done="exists" if linked else None,
        )
    )
    return steps


def _file_steps(host: Host, assets: Path, kiosk: bool) -> list[Step]:
    """The shared copy of the assets (for re-installs), then each installed file."""
    copies = [
        _file_step(
            host,
            "",
            "",
            Write(f"{SHARE}/{rel}", (assets / rel).read_bytes(), 0o755 if os.access(assets / rel, os.X_OK) else 0o644),
        )
        for rel in ASSETS
        if (assets / rel).is_file()
    ]
    todo = tuple(s.actions[0] for s in copies if s.pending)
    steps = [
        Step(
            "share",
            f"copy units, scripts, kiosk page and docs to {SHARE} (for re-installs)",
            todo,
            done=None if todo else "up to date",
        )
    ]
    for rel, target in TARGETS.items():
        if rel == "systemd/pam/rig-kiosk" and not kiosk:
            continue
        data = (assets / rel).read_bytes()
        mode = 0o755 if target.startswith(f"{PREFIX}/bin/") else 0o644
        steps.append(_file_step(host, f"file:{target}", f"install {target}", Write(target, data, mode)))
    return steps


def _config_step(host: Host, opts: Options, existing: Existing | None) -> Step:
    """The example machine config, unless one exists (it is never overwritten)."""
    notes: tuple[str, ...] = ()
    if existing is not None and (opts.shutdown_pin is not None or opts.field_kit):
        notes = (f"{CONFIG} exists and is kept: edit it for --shutdown-pin/--field-kit (system, web.host) to apply",)
    cfg_write = Write(CONFIG, checked_example_config(opts.field_kit, opts.shutdown_pin).encode(), 0o644)
    return Step(
        "config",
        f"example machine config {CONFIG} (simulated rig until you edit it)",
        (cfg_write,),
        done="exists: kept as it is" if host.exists(CONFIG) else None,
        notes=notes,
    )


def _service_env_steps(host: Host, existing: Existing | None, out_root: str) -> list[Step]:
    """What the services need from the config: the kiosk's address, and the drop-in that lets
    rig.service write to an output.root outside its state folder (or its removal)."""
    url = kiosk_url(existing.web_host if existing else "0.0.0.0", existing.web_port if existing else 8080)
    steps = [
        _file_step(
            host, "file:" + KIOSK_ENV, f"kiosk address {KIOSK_ENV}", Write(KIOSK_ENV, f"RIG_URL={url}\n".encode())
        )
    ]
    dropin = service_dropin(out_root, STATE)
    if dropin:
        steps.append(
            _file_step(host, "file:" + DROPIN, f"let rig.service write to {out_root}", Write(DROPIN, dropin.encode()))
        )
    elif host.exists(DROPIN):
        steps.append(Step("file:" + DROPIN, "stacks back under " + STATE, (Remove(DROPIN),)))
    return steps


def kiosk_url(web_host: str, port: int) -> str:
    """Where the kiosk browser finds the web UI: the loopback address when the server listens on
    every address (or on loopback), else the one address it listens on (``web.host``)."""
    if web_host in ("", "0.0.0.0", "::", "localhost") or web_host.startswith("127."):
        return f"http://127.0.0.1:{port}/"
    return f"http://[{web_host}]:{port}/" if ":" in web_host else f"http://{web_host}:{port}/"


def _want_kiosk(host: Host, opts: Options) -> tuple[bool, tuple[str, ...]]:
    if opts.kiosk == "no":
        return False, ()
    if host.display_manager():
        if opts.kiosk == "yes":
            return True, (
                "the desktop is replaced: the Pi boots to the console kiosk "
                "(undo: sudo systemctl set-default graphical.target)",
            )
        return False, (
            "a desktop owns the screen, so the kiosk is not enabled; use Raspberry Pi OS Lite, "
            "or pass --kiosk yes to boot into the kiosk instead of the desktop",
        )
    return True, ()


def _user_step(host: Host, user: str, home: str, groups: Sequence[str], comment: str, *, create_home: bool) -> Step:
    actions: list[Action] = []
    if user not in host.users():
        actions.append(
            Run(
                (
                    "useradd",
                    "--system",
                    "--user-group",
                    "--home-dir",
                    home,
                    "--create-home" if create_home else "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--comment",
                    comment,
                    user,
                )
            )
        )
    if user not in host.users() or host.missing_memberships(user, groups):
        actions.append(Run(("usermod", "--append", "--groups", ",".join(groups), user)))
    return Step(
        f"user:{user}",
        f"system user {user} (groups {', '.join(groups)})",
        tuple(actions),
        done=None if actions else "exists, in all groups",
    )


def _activate(
    steps: list[Step], kiosk: bool, kiosk_notes: tuple[str, ...], pin: int | None, opts: Options
) -> list[Step]:
    pending = {s.key for s in steps if s.pending}
    units_changed = any(k.startswith(f"file:{UNIT_DIR}/") for k in pending)
    udev_changed = "file:/etc/udev/rules.d/60-rig.rules" in pending
    out: list[Step] = []
    if udev_changed:
        out.append(
            Step(
                "udev",
                "reload udev rules and apply them to plugged-in devices",
                (
                    Run(("udevadm", "control", "--reload-rules")),
                    Run(
                        (
                            "udevadm",
                            "trigger",
                            "--subsystem-match=tty",
                            "--subsystem-match=usb",
                            "--subsystem-match=gpio",
                        )
                    ),
                ),
            )
        )
    actions: list[Action] = [Run(("systemctl", "daemon-reload"))] if units_changed else []
    actions.append(Run(("systemctl", "enable", "rig.service")))
    actions.append(Run(("systemctl", "enable" if kiosk else "disable", "rig-kiosk.service")))
    actions.append(Run(("systemctl", "enable" if pin is not None else "disable", "rig-shutdown-button.service")))
    if kiosk and any("desktop is replaced" in n for n in kiosk_notes):
        actions.append(Run(("systemctl", "set-default", "multi-user.target")))
    notes = list(kiosk_notes)
    if kiosk:
        notes.append("the kiosk takes over the screen (tty1) at the next boot")
    notes.append(
        f"shutdown button on BCM {pin}" if pin is not None else "no shutdown button (system.shutdown_pin unset)"
    )
    out.append(Step("enable", "enable the services at boot", tuple(actions), notes=tuple(notes)))
    if opts.start:
        changed = bool(pending)
        verb = "restart" if changed else "start"
        out.append(
            Step(
                "start",
                f"{verb} rig.service",
                (Run(("systemctl", verb, "rig.service")),),
                notes=("restarting interrupts a running stack (it is kept, marked interrupted)",) if changed else (),
            )
        )
        if pin is not None:
            out.append(
                Step(
                    "start-button",
                    "(re)start the shutdown button",
                    (Run(("systemctl", "restart", "rig-shutdown-button.service")),),
                )
            )
    return out
