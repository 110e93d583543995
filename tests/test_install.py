"""`rig install` / `rig uninstall` against a temporary root: the plan step by step, the dry
run, idempotency, and what uninstall keeps. Commands go to a fake runner that records them
and imitates their effect on the temporary root (users, groups, packages, the venv), so a
second run can prove it has nothing left to do. Nothing here touches the real system."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from rig.cli import main as rig_main
from rig.config import load_config
from rig.errors import ConfigError
from rig.install import CONFIG, DROPIN, Options, Run, Write, describe, execute, find_assets
from rig.install.config import example_config
from rig.install.host import Host
from rig.install.plan import plan_install
from rig.install.uninstall import plan_uninstall

CHECKOUT = Path(__file__).resolve().parents[1]
BASE_GROUPS = ["root:x:0:", "dialout:x:20:", "video:x:44:", "plugdev:x:46:", "input:x:101:", "render:x:102:"]


class FakeSystem:
    """A temporary root plus a runner and probe that imitate apt, useradd and friends."""

    def __init__(self, root: Path, *, pi_os: bool = True, desktop: bool = False) -> None:
        self.root = root
        self.commands: list[list[str]] = []
        self.packages: set[str] = {"python3-venv", "python3-pip"}
        self.connections: dict[str, dict[str, str]] = {}
        (root / "etc/apt/sources.list.d").mkdir(parents=True)
        (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n")
        (root / "etc/group").write_text("\n".join(BASE_GROUPS) + "\n")
        if pi_os:
            (root / "etc/rpi-issue").write_text("Raspberry Pi reference 2024-11-19\n")
            (root / "etc/apt/sources.list.d/raspi.list").write_text(
                "deb http://archive.raspberrypi.com/debian/ bookworm main\n"
            )
            (root / "proc/device-tree").mkdir(parents=True)
            (root / "proc/device-tree/model").write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
        if desktop:
            (root / "etc/systemd/system").mkdir(parents=True)
            (root / "etc/systemd/system/display-manager.service").symlink_to("/lib/systemd/system/lightdm.service")

    def host(self) -> Host:
        return Host(root=self.root, probe=self.probe)

    def probe(self, argv):
        if argv[0] == "dpkg-query":
            names = [a for a in argv[3:] if a in self.packages]
            return (0 if len(names) == len(argv) - 3 else 1), "".join(f"{n} ii \n" for n in names)
        if argv[:2] == ["apt-cache", "show"]:
            return 0, f"Package: {argv[-1]}\n"
        if argv[0] == "nmcli":
            return self.nmcli_show(argv)
        raise AssertionError(f"unexpected probe {argv}")

    # NetworkManager as nmcli(1) shows it: `connection show ID` exits 10 for an unknown profile;
    # `--terse --mode multiline --fields F,...` prints one `setting.property:value` a line;
    # `add`/`modify` take the aliases of nm-settings-nmcli(5) (ifname, ssid, wifi-sec.*, ...).
    ALIASES = {"ifname": "connection.interface-name", "con-name": "connection.id",
               "autoconnect": "connection.autoconnect", "ssid": "802-11-wireless.ssid",
               "type": "connection.type"}  # fmt: skip

    def nmcli_show(self, argv):
        assert argv[:5] == ["nmcli", "--terse", "--mode", "multiline", "--show-secrets"], argv
        assert argv[5] == "--fields" and argv[7:9] == ["connection", "show"], argv
        profile = self.connections.get(argv[9])
        if profile is None:
            return 10, f"Error: {argv[9]} - no such connection profile.\n"
        return 0, "".join(f"{f}:{profile.get(f, '')}\n" for f in argv[6].split(","))

    def nmcli_set(self, profile: dict[str, str], pairs: list[str]) -> None:
        assert len(pairs) % 2 == 0, pairs
        for key, value in zip(pairs[::2], pairs[1::2], strict=True):
            key = self.ALIASES.get(key, key).replace("wifi-sec.", "802-11-wireless-security.")
            assert "." in key, f"nmcli: unknown property {key}"
            profile[key] = value

    def run(self, argv) -> None:
        argv = list(argv)
        self.commands.append(argv)
        name = argv[0]
        if name == "apt-get" and argv[1] == "install":
            self.packages.update(a for a in argv[2:] if not a.startswith("-"))
        elif name == "groupadd":
            self._append("etc/group", f"{argv[-1]}:x:{900 + len(self.commands)}:")
        elif name == "useradd":
            user = argv[-1]
            self._append("etc/passwd", f"{user}:x:990:990::/nonexistent:/usr/sbin/nologin")
            self._append("etc/group", f"{user}:x:990:")
        elif name == "usermod":
            user, groups = argv[-1], argv[argv.index("--groups") + 1].split(",")
            lines = []
            for line in (self.root / "etc/group").read_text().splitlines():
                fields = line.split(":")
                members = [m for m in fields[3].split(",") if m]
                if fields[0] in groups and user not in members:
                    members.append(user)
                lines.append(":".join(fields[:3] + [",".join(members)]))
            (self.root / "etc/group").write_text("\n".join(lines) + "\n")
        elif argv[:3] == ["nmcli", "connection", "add"]:
            profile = {"connection.autoconnect-priority": "0"}
            self.nmcli_set(profile, argv[3:])
            self.connections[profile["connection.id"]] = profile
        elif argv[:3] == ["nmcli", "connection", "modify"]:
            self.nmcli_set(self.connections[argv[3]], argv[4:])
        elif argv[:3] == ["nmcli", "connection", "delete"]:
            del self.connections[argv[3]]
        elif name == "python3" and argv[1:3] == ["-m", "venv"]:
            venv = self.root / argv[-1].lstrip("/")
            (venv / "bin").mkdir(parents=True, exist_ok=True)
            (venv / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = true\n")
        elif name.endswith("/bin/pip") and argv[1] == "install":
            script = self.root / name.lstrip("/").replace("/bin/pip", "/bin/rig")
            script.write_text("#!/opt/rig/venv/bin/python\n")
            script.chmod(0o755)

    def _append(self, rel: str, line: str) -> None:
        with (self.root / rel).open("a") as fh:
            fh.write(line + "\n")

    def snapshot(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.root)): (p.read_bytes() if p.is_file() and not p.is_symlink() else b"")
            for p in sorted(self.root.rglob("*"))
        }


@pytest.fixture
def pi(tmp_path) -> FakeSystem:
    return FakeSystem(tmp_path / "root")


def commands(steps) -> list[str]:
    return [shlex.join(a.argv) for s in steps if s.pending for a in s.actions if isinstance(a, Run)]


def by_key(steps):
    return {s.key: s for s in steps}


def install(system: FakeSystem, **opts):
    opts.setdefault("source", CHECKOUT)
    steps = plan_install(system.host(), Options(**opts), find_assets())
    execute(steps, system.host(), runner=system.run)
    return steps


def test_plan_on_a_fresh_pi_step_by_step(pi):
    steps = plan_install(pi.host(), Options(source=CHECKOUT, admin_user="pi"), find_assets())
    keys = [s.key for s in steps]
    assert keys[:4] == ["apt", "group:gpio", "group:dialout", "group:plugdev"]
    assert keys.index("user:rig") < keys.index("dirs") < keys.index("venv") < keys.index("pip") < keys.index("enable")
    assert keys[-2:] == ["enable", "start"]
    assert commands(steps) == [
        "apt-get update",
        "apt-get install -y --no-install-recommends polkitd python3-lgpio python3-picamera2 cage chromium-browser",
        "groupadd --system gpio",
        "useradd --system --user-group --home-dir /var/lib/rig --no-create-home --shell /usr/sbin/nologin "
        "--comment 'rig focus-stacking controller' rig",
        "usermod --append --groups gpio,dialout,plugdev,video rig",
        "useradd --system --user-group --home-dir /var/lib/rig-kiosk --create-home --shell /usr/sbin/nologin "
        "--comment 'rig touchscreen kiosk' rig-kiosk",
        "usermod --append --groups video,render,input rig-kiosk",
        "usermod --append --groups rig pi",
        "python3 -m venv --system-site-packages /opt/rig/venv",
        f"/opt/rig/venv/bin/pip install --upgrade --upgrade-strategy only-if-needed {CHECKOUT}",
        "udevadm control --reload-rules",
        "udevadm trigger --subsystem-match=tty --subsystem-match=usb --subsystem-match=gpio",
        "systemctl daemon-reload",
        "systemctl enable rig.service",
        "systemctl enable rig-kiosk.service",
        "systemctl disable rig-shutdown-button.service",
        "systemctl restart rig.service",
    ]
    writes = {a.path: a for s in steps for a in s.actions if isinstance(a, Write)}
    for path, mode in {
        "/etc/systemd/system/rig.service": 0o644,
        "/etc/systemd/system/rig-kiosk.service": 0o644,
        "/etc/systemd/system/rig-shutdown-button.service": 0o644,
        "/etc/udev/rules.d/60-rig.rules": 0o644,
        "/etc/polkit-1/rules.d/50-rig.rules": 0o644,
        "/etc/pam.d/rig-kiosk": 0o644,
        "/opt/rig/bin/rig-kiosk": 0o755,
        "/opt/rig/share/web/kiosk/index.html": 0o644,
        "/opt/rig/share/docs/install.md": 0o644,
        CONFIG: 0o644,
        "/etc/rig/kiosk.env": 0o644,
    }.items():
        assert writes[path].mode == mode, path
    assert writes["/etc/systemd/system/rig.service"].content == (CHECKOUT / "systemd/rig.service").read_bytes()
    assert writes["/etc/rig/kiosk.env"].content == b"RIG_URL=http://127.0.0.1:8080/\n"
    mkdirs = [a for a in by_key(steps)["dirs"].actions]
    assert [(d.path, d.mode, d.owner) for d in mkdirs] == [
        ("/etc/rig", 0o755, None),
        ("/var/lib/rig", 0o750, "rig:rig"),
        ("/var/lib/rig/stacks", 0o750, "rig:rig"),
    ]


def test_dry_run_prints_every_step_and_changes_nothing(pi, capsys, monkeypatch):
    monkeypatch.setattr("rig.install.host.Host", lambda root: Host(root=root, probe=pi.probe))  # the CLI's Host
    before = pi.snapshot()
    assert rig_main(["install", "--dry-run", "--root", str(pi.root), "--source", str(CHECKOUT)]) == 0
    out = capsys.readouterr().out
    assert pi.snapshot() == before
    steps = plan_install(pi.host(), Options(source=CHECKOUT), find_assets())
    assert out.splitlines()[:-1] == list(describe(steps, dry_run=True))
    assert f"[1/{len(steps)}] apt packages" in out
    assert "      $ useradd --system --user-group" in out
    assert "      write /etc/systemd/system/rig.service (mode 0644)" in out
    assert out.rstrip().endswith("nothing was changed")


def test_real_runs_need_root_and_the_real_root(pi, capsys):
    assert rig_main(["install", "--root", str(pi.root)]) == 2
    assert "--root is only for --dry-run" in capsys.readouterr().err
    if os.geteuid() != 0:
        assert rig_main(["uninstall"]) == 2
        assert "run it with sudo" in capsys.readouterr().err


def test_install_writes_files_and_a_second_run_changes_nothing(pi):
    install(pi, source=CHECKOUT)
    root = pi.root
    unit = root / "etc/systemd/system/rig.service"
    assert unit.read_bytes() == (CHECKOUT / "systemd/rig.service").read_bytes()
    assert (root / "opt/rig/bin/rig-kiosk").stat().st_mode & 0o777 == 0o755
    assert (root / "usr/local/bin/rig").readlink() == Path("/opt/rig/venv/bin/rig")
    assert (root / "var/lib/rig/stacks").is_dir() and (root / "var/lib/rig").stat().st_mode & 0o777 == 0o750
    cfg = load_config(root / "etc/rig/rig.toml")  # the example config is valid
    assert (cfg.rail.backend, cfg.camera.backend, cfg.output.root) == ("sim", "sim", "/var/lib/rig/stacks")
    assert cfg.web.host == "127.0.0.1" and cfg.system.shutdown_pin is None
    assert ["chown", "rig:rig", str(root / "var/lib/rig")] in pi.commands

    pi.commands.clear()
    again = plan_install(pi.host(), Options(), find_assets())
    assert [s.key for s in again if s.pending] == ["enable", "start"]
    assert commands(again) == [
        "systemctl enable rig.service",
        "systemctl enable rig-kiosk.service",
        "systemctl disable rig-shutdown-button.service",
        "systemctl start rig.service",  # nothing changed: no restart under a running stack
    ]


@pytest.mark.parametrize(
    ("web_host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8080/"),
        ("127.0.0.1", "http://127.0.0.1:8080/"),
        ("192.168.4.1", "http://192.168.4.1:8080/"),  # listening on one address only: the kiosk goes there
        ("fd00::5", "http://[fd00::5]:8080/"),
    ],
)
def test_the_kiosk_opens_the_address_the_server_listens_on(pi, web_host, url):
    (pi.root / "etc/rig").mkdir(parents=True)
    (pi.root / "etc/rig/rig.toml").write_text(f'[web]\nhost = "{web_host}"\n')
    install(pi)
    assert (pi.root / "etc/rig/kiosk.env").read_text() == f"RIG_URL={url}\n"


def test_an_existing_config_is_kept_and_read(pi):
    (pi.root / "etc/rig").mkdir(parents=True)
    mine = (
        '[output]\nroot = "/media/rig-data/stacks"\n[web]\nhost = "0.0.0.0"\nport = 9090\n[system]\nshutdown_pin = 26\n'
    )
    (pi.root / "etc/rig/rig.toml").write_text(mine)
    steps = install(pi, shutdown_pin=5)
    assert (pi.root / "etc/rig/rig.toml").read_text() == mine
    step = by_key(steps)["config"]
    assert step.done == "exists: kept as it is" and any("--shutdown-pin" in n for n in step.notes)
    dropin = (pi.root / DROPIN.lstrip("/")).read_text()
    assert "RequiresMountsFor=/media/rig-data/stacks" in dropin and "ReadWritePaths=/media/rig-data/stacks" in dropin
    assert (pi.root / "media/rig-data/stacks").is_dir()
    assert (pi.root / "etc/rig/kiosk.env").read_text() == "RIG_URL=http://127.0.0.1:9090/\n"
    assert ["systemctl", "enable", "rig-shutdown-button.service"] in pi.commands
    assert ["systemctl", "restart", "rig-shutdown-button.service"] in pi.commands


def test_moving_the_stacks_back_removes_the_dropin(pi):
    (pi.root / "etc/rig").mkdir(parents=True)
    (pi.root / "etc/rig/rig.toml").write_text('[output]\nroot = "/media/usb"\n')
    install(pi)
    assert (pi.root / DROPIN.lstrip("/")).is_file()
    (pi.root / "etc/rig/rig.toml").write_text('[output]\nroot = "~/stacks"\n')  # ~ = /var/lib/rig for the service
    install(pi)
    assert not (pi.root / DROPIN.lstrip("/")).exists()


def test_a_broken_config_stops_the_installer(pi):
    (pi.root / "etc/rig").mkdir(parents=True)
    (pi.root / "etc/rig/rig.toml").write_text("[web]\nport = 0\n")
    with pytest.raises(ConfigError, match="web.port.*fix /etc/rig/rig.toml"):
        plan_install(pi.host(), Options(), find_assets())


def test_plain_debian_and_a_desktop(tmp_path):
    system = FakeSystem(tmp_path / "root", pi_os=False, desktop=True)
    steps = plan_install(system.host(), Options(source=CHECKOUT), find_assets())
    cmds = commands(steps)
    assert "apt-get install -y --no-install-recommends polkitd" in cmds  # no Pi packages, no kiosk
    assert "systemctl disable rig-kiosk.service" in cmds and "group:render" not in by_key(steps)
    assert any("a desktop owns the screen" in n for n in by_key(steps)["enable"].notes)
    forced = commands(plan_install(system.host(), Options(source=CHECKOUT, kiosk="yes"), find_assets()))
    assert "apt-get install -y --no-install-recommends polkitd cage chromium" in forced
    assert "systemctl set-default multi-user.target" in forced


def test_no_kiosk_no_apt(pi):
    steps = plan_install(pi.host(), Options(source=CHECKOUT, kiosk="no", apt=False, start=False), find_assets())
    keys = by_key(steps)
    assert "apt" not in keys and "user:rig-kiosk" not in keys and "start" not in keys
    assert "file:/etc/pam.d/rig-kiosk" not in keys
    assert "systemctl disable rig-kiosk.service" in commands(steps)


def test_uninstall_keeps_stacks_config_and_users(pi):
    install(pi, source=CHECKOUT)
    stack = pi.root / "var/lib/rig/stacks/20261123-143000"
    stack.mkdir()
    (stack / "0001.jpg").write_bytes(b"\xff\xd8frame\xff\xd9")
    (stack / "stack.json").write_text('{"outcome": "completed"}')
    config = (pi.root / "etc/rig/rig.toml").read_bytes()
    pi.commands.clear()

    steps = plan_uninstall(pi.host())
    execute(steps, pi.host(), runner=pi.run)
    assert pi.commands[:3] == [
        ["systemctl", "disable", "--now", "rig-shutdown-button.service"],
        ["systemctl", "disable", "--now", "rig-kiosk.service"],
        ["systemctl", "disable", "--now", "rig.service"],
    ]
    for gone in (
        "opt/rig",
        "usr/local/bin/rig",
        "etc/systemd/system/rig.service",
        "etc/udev/rules.d/60-rig.rules",
        "etc/polkit-1/rules.d/50-rig.rules",
        "etc/pam.d/rig-kiosk",
        "etc/rig/kiosk.env",
    ):
        assert not os.path.lexists(pi.root / gone), gone
    assert (stack / "0001.jpg").read_bytes() == b"\xff\xd8frame\xff\xd9"
    assert (pi.root / "etc/rig/rig.toml").read_bytes() == config
    assert "rig:" in (pi.root / "etc/passwd").read_text()
    assert not [s for s in plan_uninstall(pi.host()) if s.pending]  # idempotent


def test_a_failing_command_names_the_step_and_says_rerun(pi):
    import subprocess

    def runner(argv):
        if argv[0] == "useradd":
            raise subprocess.CalledProcessError(9, argv)
        pi.run(argv)

    steps = plan_install(pi.host(), Options(source=CHECKOUT), find_assets())
    with pytest.raises(Exception, match=r"step 'system user rig .*useradd.*run the installer again"):
        execute(steps, pi.host(), runner=runner)


@pytest.mark.parametrize("field_kit, pin", [(False, None), (True, 26)])
def test_example_config_is_valid(tmp_path, field_kit, pin):
    path = tmp_path / "rig.toml"
    path.write_text(example_config(field_kit, pin))
    cfg = load_config(path)
    assert cfg.web.host == ("0.0.0.0" if field_kit else "127.0.0.1")
    assert cfg.system.shutdown_pin == pin and cfg.rail.backend == "sim"


def test_assets_are_found_in_an_installed_share(pi):
    install(pi, source=CHECKOUT)
    share = pi.root / "opt/rig/share"
    assert find_assets(share) == share
    assert (share / "systemd/rig.service").read_bytes() == (CHECKOUT / "systemd/rig.service").read_bytes()


@pytest.fixture
def cli_host(pi, monkeypatch):
    monkeypatch.setattr("rig.install.host.Host", lambda root: Host(root=root, probe=pi.probe))  # the CLI's Host
    return pi


@pytest.mark.parametrize("pin", ["99", "-1", "28", "x", "2.5"])
def test_a_shutdown_pin_outside_0_to_27_is_refused(cli_host, capsys, pin):
    """An invalid pin would write a config `rig serve` refuses to load: exit 2, nothing written."""
    before = cli_host.snapshot()
    try:
        code = rig_main(["install", "--dry-run", "--root", str(cli_host.root), "--shutdown-pin", pin])
    except SystemExit as exc:  # argparse: not a number at all
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert "--shutdown-pin" in err and "0" in err and "27" in err, err
    assert cli_host.snapshot() == before
    if pin.lstrip("-").isdigit():
        with pytest.raises(Exception, match="BCM pin number from 0 to 27"):
            Options(source=CHECKOUT, shutdown_pin=int(pin))


@pytest.mark.parametrize("pin", [0, 26, 27])
def test_valid_shutdown_pins_make_a_config_that_loads(pi, pin):
    install(pi, shutdown_pin=pin)
    assert load_config(pi.root / "etc/rig/rig.toml").system.shutdown_pin == pin


def test_without_source_the_running_checkout_is_installed(cli_host, capsys):
    assert rig_main(["install", "--dry-run", "--root", str(cli_host.root)]) == 0
    out = capsys.readouterr().out
    assert f"installing rig from the checkout it runs from, {CHECKOUT}" in out
    assert f"$ /opt/rig/venv/bin/pip install --upgrade --upgrade-strategy only-if-needed {CHECKOUT}" in out
    assert "keeping the installed rig" not in out


def test_without_source_and_nothing_installed_is_refused(cli_host, capsys, monkeypatch):
    """An installed wheel (not a checkout) and no rig in /opt/rig/venv: refuse instead of
    'keeping the installed rig' and enabling a service that cannot start."""
    monkeypatch.setattr("rig.install.running_checkout", lambda: None)
    before = cli_host.snapshot()
    assert rig_main(["install", "--dry-run", "--root", str(cli_host.root)]) == 2
    err = capsys.readouterr().err
    assert "rig is not installed in /opt/rig/venv" in err and "--source" in err, err
    assert cli_host.snapshot() == before
    with pytest.raises(Exception, match="not installed in /opt/rig/venv"):
        plan_install(cli_host.host(), Options(), find_assets())
    # once a rig is in the venv, a re-install without --source keeps it
    install(cli_host)
    assert rig_main(["install", "--dry-run", "--root", str(cli_host.root)]) == 0
    assert "ok, no --source given: keeping the installed rig" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["missing", "empty-folder", "no-package", "a-text-file"])
def test_source_must_be_a_rig_checkout(cli_host, capsys, tmp_path, kind):
    source = tmp_path / "src"
    if kind == "empty-folder":
        source.mkdir()
    elif kind == "no-package":
        source.mkdir()
        (source / "pyproject.toml").write_text("[project]\nname = 'other'\n")
    elif kind == "a-text-file":
        source = tmp_path / "notes.txt"
        source.write_text("x")
    before = cli_host.snapshot()
    assert rig_main(["install", "--dry-run", "--root", str(cli_host.root), "--source", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rig: error: --source {source}") and err.count("\n") == 1, err
    assert cli_host.snapshot() == before


def test_the_example_config_is_checked_before_it_is_written():
    """Belt and braces behind the option checks: the installer never writes a config that
    `rig serve` would refuse to load."""
    from rig.install.config import checked_example_config

    assert checked_example_config(True, 26) == example_config(True, 26)
    with pytest.raises(ConfigError, match="shutdown_pin"):
        checked_example_config(False, 99)


# ---------------------------------------------------------------- field kit: the Wi-Fi hotspot
def hotspot_file(system: FakeSystem) -> dict[str, str]:
    import tomllib

    return tomllib.loads((system.root / "etc/rig/hotspot.toml").read_text())


def test_field_kit_creates_the_hotspot_once_with_a_kept_passphrase(pi):
    steps = install(pi, field_kit=True)
    kept = hotspot_file(pi)
    psk = kept["passphrase"]
    assert kept["ssid"] == "rig-kit" and 8 <= len(psk) <= 63
    path = pi.root / "etc/rig/hotspot.toml"
    assert path.stat().st_mode & 0o777 == 0o600  # owned by the service user (chowned before it is renamed in place)
    assert ["chown", "rig:rig", str(path.with_name(".hotspot.toml.rig-install"))] in pi.commands
    assert "dnsmasq-base" in commands(steps)[1]
    assert [c for c in commands(steps) if c.startswith("nmcli")] == [
        "nmcli connection add type wifi ifname wlan0 con-name rig-hotspot autoconnect yes ssid rig-kit "
        "802-11-wireless.mode ap 802-11-wireless.band bg ipv4.method shared wifi-sec.key-mgmt wpa-psk "
        f"wifi-sec.proto rsn wifi-sec.pairwise ccmp wifi-sec.group ccmp wifi-sec.psk {psk} "
        "connection.autoconnect-priority -10"
    ]
    assert pi.connections["rig-hotspot"]["802-11-wireless-security.psk"] == psk
    cfg = load_config(pi.root / "etc/rig/rig.toml")
    assert cfg.system.field_kit and cfg.web.host == "0.0.0.0"

    pi.commands.clear()
    again = install(pi, field_kit=True)  # idempotent: same passphrase, nothing to change
    assert by_key(again)["hotspot"].done == "up to date" and by_key(again)["file:/etc/rig/hotspot.toml"].done
    assert hotspot_file(pi)["passphrase"] == psk
    assert not [c for c in pi.commands if c[0] == "nmcli"]
    plain = plan_install(pi.host(), Options(), find_assets())  # a later install without --field-kit keeps it
    assert by_key(plain)["hotspot"].done == "up to date"


def test_an_existing_hotspot_profile_is_modified_not_duplicated(pi):
    old = {"connection.id": "rig-hotspot", "802-11-wireless.ssid": "old", "ipv4.method": "auto"}
    pi.connections["rig-hotspot"] = old
    steps = install(pi, field_kit=True, hotspot_ssid="bench kit", hotspot_passphrase="correct horse battery")
    assert [c for c in commands(steps) if c.startswith("nmcli")] == [
        "nmcli connection modify rig-hotspot connection.interface-name wlan0 connection.autoconnect yes "
        "802-11-wireless.ssid 'bench kit' 802-11-wireless.mode ap 802-11-wireless.band bg ipv4.method shared "
        "wifi-sec.key-mgmt wpa-psk wifi-sec.proto rsn wifi-sec.pairwise ccmp wifi-sec.group ccmp "
        "wifi-sec.psk 'correct horse battery' connection.autoconnect-priority -10"
    ]
    assert list(pi.connections) == ["rig-hotspot"]
    assert hotspot_file(pi) == {"ssid": "bench kit", "passphrase": "correct horse battery", "band": "bg",
                                "interface": "wlan0"}  # fmt: skip
    assert by_key(install(pi))["hotspot"].done == "up to date"


def test_dry_run_shows_the_hotspot_commands_without_the_passphrase(cli_host, capsys):
    before = cli_host.snapshot()
    args = ["install", "--dry-run", "--root", str(cli_host.root), "--field-kit", "--hotspot-passphrase", "s3cret-words"]
    assert rig_main(args) == 0
    out = capsys.readouterr().out
    assert cli_host.snapshot() == before
    assert "      $ nmcli connection add type wifi ifname wlan0 con-name rig-hotspot" in out
    assert "wifi-sec.psk '********'" in out and "s3cret-words" not in out
    assert "      write /etc/rig/hotspot.toml (mode 0600, rig:rig)" in out


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("--hotspot-passphrase", "short", "is 5 characters: must be 8 to 63"),
        ("--hotspot-passphrase", "x" * 64, "is 64 characters: must be 8 to 63"),
        ("--hotspot-ssid", "é" * 17, "is 34 bytes: must be 1 to 32 bytes"),
    ],
)
def test_bad_hotspot_settings_are_refused_and_nothing_changes(cli_host, capsys, flag, value, named):
    install(cli_host, field_kit=True)
    before = cli_host.snapshot()
    assert rig_main(["install", "--dry-run", "--root", str(cli_host.root), "--field-kit", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rig: error: {flag}: ") and named in err and err.count("\n") == 1, err
    assert cli_host.snapshot() == before


def test_uninstall_removes_the_hotspot_and_its_file(pi):
    install(pi, field_kit=True)
    pi.commands.clear()
    execute(plan_uninstall(pi.host()), pi.host(), runner=pi.run)
    assert ["nmcli", "connection", "delete", "rig-hotspot"] in pi.commands
    assert not pi.connections and not (pi.root / "etc/rig/hotspot.toml").exists()
    assert (pi.root / "etc/rig/rig.toml").exists()
    assert not [s for s in plan_uninstall(pi.host()) if s.pending]
