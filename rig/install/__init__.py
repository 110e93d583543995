"""``rig install`` / ``rig uninstall``: the installer's steps as data.

A plan is a list of :class:`Step`; each holds plain actions (run a command, write a file,
make a folder, make a symlink, remove something) and, when nothing needs doing, why
(``done``). The plan is computed from the machine's current state (:mod:`rig.install.host`),
so running it twice does nothing the second time, and ``--dry-run`` prints exactly the
plan. Files go under a root prefix and commands through an injected runner, so tests run
the real plan against a temporary root without touching the machine.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rig.config import PIN
from rig.errors import RigError, UsageError
from rig.hotspot import HOTSPOT_FILE
from rig.install.host import Host

log = logging.getLogger(__name__)

PREFIX = "/opt/rig"
VENV = f"{PREFIX}/venv"
SHARE = f"{PREFIX}/share"
CONFIG = "/etc/rig/rig.toml"
HOTSPOT_TOML = f"{os.path.dirname(CONFIG)}/{HOTSPOT_FILE}"  # /etc/rig/hotspot.toml: beside the config
KIOSK_ENV = "/etc/rig/kiosk.env"
STATE = "/var/lib/rig"
STACKS = f"{STATE}/stacks"
UNIT_DIR = "/etc/systemd/system"
USER, KIOSK_USER = "rig", "rig-kiosk"
DEVICE_GROUPS = ("gpio", "dialout", "plugdev", "video")
KIOSK_GROUPS = ("video", "render", "input")
UNITS = ("rig.service", "rig-kiosk.service", "rig-shutdown-button.service")
BASE_PACKAGES = ("python3-venv", "python3-pip", "polkitd")
PI_PACKAGES = ("python3-lgpio", "python3-picamera2")
# repository file -> installed file (besides the mirror of every asset under SHARE)
ASSETS = (
    "systemd/rig.service",
    "systemd/rig-kiosk.service",
    "systemd/rig-shutdown-button.service",
    "systemd/polkit/50-rig.rules",
    "systemd/pam/rig-kiosk",
    "udev/60-rig.rules",
    "scripts/rig-kiosk",
    "scripts/install-pi.sh",
    "web/kiosk/index.html",
    "docs/install.md",
    "docs/field-kit.md",
    "docs/config.md",
)
TARGETS = {
    "scripts/rig-kiosk": f"{PREFIX}/bin/rig-kiosk",
    "udev/60-rig.rules": "/etc/udev/rules.d/60-rig.rules",
    "systemd/polkit/50-rig.rules": "/etc/polkit-1/rules.d/50-rig.rules",
    "systemd/pam/rig-kiosk": "/etc/pam.d/rig-kiosk",
    **{f"systemd/{u}": f"{UNIT_DIR}/{u}" for u in UNITS},
}
DROPIN = f"{UNIT_DIR}/rig.service.d/50-output.conf"


# ---------------------------------------------------------------- actions
@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    secrets: tuple[str, ...] = field(default=(), repr=False)  # shown as ******** (a passphrase)

    def show(self) -> str:
        return "$ " + shlex.join("********" if a in self.secrets else a for a in self.argv)


@dataclass(frozen=True)
class Write:
    path: str
    content: bytes = field(repr=False)
    mode: int = 0o644
    owner: str | None = None  # "user:group"; None = whoever runs the installer (root)

    def show(self) -> str:
        return f"write {self.path} (mode {self.mode:04o}{', ' + self.owner if self.owner else ''})"


@dataclass(frozen=True)
class Mkdir:
    path: str
    mode: int = 0o755
    owner: str | None = None

    def show(self) -> str:
        return f"mkdir {self.path} (mode {self.mode:04o}{', ' + self.owner if self.owner else ''})"


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str

    def show(self) -> str:
        return f"symlink {self.path} -> {self.target}"


@dataclass(frozen=True)
class Remove:
    path: str
    tree: bool = False

    def show(self) -> str:
        return f"remove {self.path}{' (and everything in it)' if self.tree else ''}"


Action = Run | Write | Mkdir | Symlink | Remove


@dataclass(frozen=True)
class Step:
    key: str  # stable name, e.g. "apt", "user:rig", "file:/etc/udev/rules.d/60-rig.rules"
    title: str
    actions: tuple[Action, ...] = ()
    done: str | None = None  # set when nothing needs doing: why
    notes: tuple[str, ...] = ()

    @property
    def pending(self) -> bool:
        return self.done is None and bool(self.actions)


@dataclass(frozen=True)
class Options:
    source: Path | None = None  # checkout to pip-install into the venv; None = keep the installed rig
    kiosk: str = "auto"  # auto | yes | no
    field_kit: bool = False  # web UI on all addresses, field-kit mode, and the Wi-Fi hotspot
    hotspot_ssid: str | None = None  # None: keep the one in hotspot.toml (or the default)
    hotspot_passphrase: str | None = None  # None: keep the one in hotspot.toml (or generate one)
    shutdown_pin: int | None = None
    apt: bool = True
    start: bool = True
    admin_user: str | None = None  # added to group rig so it can read the stacks

    def __post_init__(self) -> None:
        pin = self.shutdown_pin
        if pin is not None and (isinstance(pin, bool) or not isinstance(pin, int) or not PIN[0] <= pin <= PIN[1]):
            raise UsageError(
                f"--shutdown-pin {pin}: not a GPIO pin; give a BCM pin number from {PIN[0]} to {PIN[1]} "
                "(the button goes from that pin to ground)"
            )
        from rig.hotspot import check_passphrase, check_ssid

        for flag, value, check in (
            ("--hotspot-ssid", self.hotspot_ssid, check_ssid),
            ("--hotspot-passphrase", self.hotspot_passphrase, check_passphrase),
        ):
            if value is not None:
                try:
                    check(value)
                except UsageError as exc:
                    raise UsageError(f"{flag}: {exc}") from None


class InstallError(RigError):
    """An install step failed; re-running the installer resumes where it stopped."""


# ---------------------------------------------------------------- what to install
def running_checkout() -> Path | None:
    """The source checkout this rig runs from (the folder holding pyproject.toml next to the
    ``rig`` package: a git clone, or an editable install), or None (an installed wheel)."""
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file() and (here / "rig" / "__init__.py").is_file():
        return here
    return None


def check_source(source: Path) -> Path:
    """``source`` as pip will get it: a rig checkout (a folder with pyproject.toml), or a wheel
    or sdist file. A UsageError names what is wrong (the dry run checks it too)."""
    if not source.exists():
        raise UsageError(f"--source {source}: no such folder or file")
    if source.is_dir():
        if not (source / "pyproject.toml").is_file():
            raise UsageError(f"--source {source}: not a rig source checkout (no pyproject.toml in it)")
        if not (source / "rig" / "__init__.py").is_file():
            raise UsageError(f"--source {source}: not a rig source checkout (no rig package next to pyproject.toml)")
    elif not source.name.endswith((".whl", ".tar.gz", ".zip")):
        raise UsageError(f"--source {source}: give a rig checkout folder (or a wheel/sdist file)")
    return source


# ---------------------------------------------------------------- assets
def find_assets(source: Path | None = None, host: Host | None = None) -> Path:
    """The folder holding systemd/, udev/, scripts/, web/kiosk/ and docs/: ``source``, the
    checkout this module runs from, or the copy an earlier install left under /opt/rig/share."""
    candidates = [source] if source else []
    candidates += [Path(__file__).resolve().parents[2], (host or Host()).path(SHARE)]
    for folder in candidates:
        if folder and (Path(folder) / "systemd" / "rig.service").is_file():
            return Path(folder)
    raise InstallError(
        f"cannot find rig's install files (systemd/rig.service) in {', '.join(map(str, candidates))};"
        " pass --source CHECKOUT"
    )


# ---------------------------------------------------------------- running a plan
Runner = Callable[[Sequence[str]], None]


def system_runner(argv: Sequence[str]) -> None:
    subprocess.run(list(argv), check=True)


def describe(steps: Sequence[Step], dry_run: bool) -> Iterator[str]:
    """The plan as text: every step, every action, and whether it would run."""
    total = len(steps)
    for n, step in enumerate(steps, 1):
        state = f"ok, {step.done}" if step.done else ("would do" if dry_run else "todo")
        yield f"[{n}/{total}] {step.title}: {state}"
        if step.pending:
            for action in step.actions:
                yield f"      {action.show()}"
        for note in step.notes:
            yield f"      note: {note}"


def execute(
    steps: Sequence[Step], host: Host, runner: Runner = system_runner, out: Callable[[str], None] = lambda line: None
) -> int:
    """Carry out every pending step in order; returns how many ran. Stops at the first failure."""
    ran = 0
    for n, step in enumerate(steps, 1):
        if not step.pending:
            out(f"[{n}/{len(steps)}] {step.title}: ok, {step.done or 'nothing to do'}")
            continue
        out(f"[{n}/{len(steps)}] {step.title}")
        for action in step.actions:
            out(f"      {action.show()}")
            try:
                _apply(action, host, runner)
            except (OSError, subprocess.CalledProcessError) as exc:
                raise InstallError(
                    f"step {step.title!r} failed at `{action.show()}`: {exc}; "
                    "fix that and run the installer again (it resumes)"
                ) from None
        for note in step.notes:
            out(f"      note: {note}")
        ran += 1
    return ran


def _apply(action: Action, host: Host, runner: Runner) -> None:
    if isinstance(action, Run):
        runner(action.argv)
        return
    target = host.path(action.path)
    if isinstance(action, Write):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.rig-install")
        tmp.write_bytes(action.content)
        os.chmod(tmp, action.mode)
        _chown(tmp, action.owner, host, runner)
        os.replace(tmp, target)
    elif isinstance(action, Mkdir):
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, action.mode)
        _chown(target, action.owner, host, runner)
    elif isinstance(action, Symlink):
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(action.target)
    elif isinstance(action, Remove):
        if action.tree and target.is_dir() and not target.is_symlink():
            import shutil

            shutil.rmtree(target)
        elif target.is_symlink() or target.exists():
            target.unlink()


def _chown(path: Path, owner: str | None, host: Host, runner: Runner) -> None:
    if owner:  # by name, through the runner: the user may have been created a step ago
        runner(("chown", owner, str(path)))
