"""Machine config and profile loading: every rejection names the file, the option and the range."""

from __future__ import annotations

import pytest

from rig.config import MachineConfig, Profile, load_config, profile_from_toml
from rig.errors import ConfigError, UsageError
from rig.profiles import ProfileStore


def write(tmp_path, text: str):
    path = tmp_path / "rig.toml"
    path.write_text(text)
    return path


def test_default_is_the_simulated_rig():
    cfg = load_config(None)
    assert cfg.rail.backend == "sim" and cfg.camera.backend == "sim"
    assert cfg.rail.units == "um"


def test_valid_file_loads_into_frozen_dataclasses(tmp_path):
    cfg = load_config(
        write(
            tmp_path,
            """
[rail]
backend = "gpio"
steps_per_mm = 1600
max_um = 50000
backlash_um = 25
[rail.gpio]
step_pin = 5
enable_pin = 6
[camera]
backend = "shutter"
[output]
root = "/tmp/stacks"
""",
        )
    )
    assert cfg.rail.steps_per_mm == 1600.0 and isinstance(cfg.rail.steps_per_mm, float)
    assert cfg.rail.gpio.enable_pin == 6 and cfg.rail.gpio.home_pin is None
    assert cfg.source.endswith("rig.toml")
    with pytest.raises(AttributeError):
        cfg.rail.backend = "sim"  # frozen


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[rail]\nsteps_per_mn = 5\n", "unknown option 'rail.steps_per_mn'"),
        ('[rail]\nsteps_per_mm = "fast"\n', "'rail.steps_per_mm' = 'fast': must be a number"),
        ("[rail]\nsteps_per_mm = nan\n", "must be a finite number"),
        ("[rail]\nmax_speed_mm_s = inf\n", "must be a finite number"),
        ("[rail]\nsteps_per_mm = -3\n", "out of range (allowed: a number from 1 to 1e+06 steps/mm)"),
        ('[rail]\nbackend = "warp"\n', "not a known choice (allowed: one of 'sim', 'gpio'"),
        ("[rail]\ndisable_when_idle = 1\n", "must be true or false"),
        ("[rail.gpio]\nstep_pin = 40\n", "'rail.gpio.step_pin' = 40: out of range"),
        ("[rail.gpio]\nstep_pin = true\n", "must be a whole number"),
        ("[rail]\nmin_um = 10\nmax_um = 5\n", "rail.min_um (10) must be below rail.max_um (5)"),
        ("rail = 5\n", "'rail' must be a table"),
        ("[camera.sim]\nwidth = 10\n", "camera.sim.width"),
        ('[rail\nbackend = "sim"\n', "not valid TOML"),
        ("bogus = 1\n", "unknown option 'bogus'"),
    ],
)
def test_bad_config_is_rejected_with_file_option_and_range(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert needle in message
    assert str(path) in message
    assert "\n" not in message


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_profile_defaults_and_validation():
    assert Profile().checked().mode == "full"
    with pytest.raises(ConfigError, match="'slices' = 1: out of range"):
        profile_from_toml("slices = 1\n", "p.toml")
    with pytest.raises(ConfigError, match="'mode' = 'fast'"):
        profile_from_toml('mode = "fast"\n', "p.toml")
    with pytest.raises(ConfigError, match="start_um and end_um are equal"):
        profile_from_toml("start_um = 5\nend_um = 5\n", "p.toml")


def test_profile_store_roundtrip(tmp_path):
    store = ProfileStore(tmp_path / "profiles")
    assert store.names() == []
    store.save("macro 5x", Profile(slices=40, step_um=12.5, settle_s=1.0, description="Mitutoyo 5x"))
    assert store.names() == ["macro 5x"]
    loaded = store.load("macro 5x")
    assert loaded.slices == 40 and loaded.step_um == 12.5 and loaded.description == "Mitutoyo 5x"
    store.delete("macro 5x")
    assert store.names() == []
    with pytest.raises(UsageError, match="no profile named"):
        store.load("macro 5x")
    with pytest.raises(UsageError, match="not allowed"):
        store.save("../evil", Profile())


def test_corrupt_profile_file_is_rejected(tmp_path):
    store = ProfileStore(tmp_path)
    (tmp_path / "bad.toml").write_text("slices = [\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        store.load("bad")


def test_summary_names_backends():
    summary = MachineConfig().summary()
    assert summary["rail"]["backend"] == "sim" and summary["camera"]["backend"] == "sim"


def test_gpio_pin_conflicts_are_refused(tmp_path):
    path = write(tmp_path, '[rail]\nbackend = "gpio"\n[rail.gpio]\nstep_pin = 17\ndir_pin = 17\n')
    with pytest.raises(ConfigError, match="'rail.gpio.dir_pin' uses BCM pin 17, already used by 'rail.gpio.step_pin'"):
        load_config(path)
    path = write(
        tmp_path, '[rail]\nbackend = "gpio"\n[camera]\nbackend = "shutter"\n[camera.shutter]\nfocus_pin = 17\n'
    )
    with pytest.raises(ConfigError, match="camera.shutter.focus_pin"):
        load_config(path)
    # pins of backends that are not selected do not count
    load_config(write(tmp_path, "[rail.gpio]\nstep_pin = 17\ndir_pin = 17\n"))


def test_list_items_are_type_checked(tmp_path):
    with pytest.raises(ConfigError, match="every item must be a string"):
        load_config(write(tmp_path, "[web]\nallowed_hosts = [1, 2]\n"))
    assert load_config(write(tmp_path, '[web]\nallowed_hosts = ["rig.local"]\n')).web.allowed_hosts == ("rig.local",)


def test_config_must_be_a_regular_file(tmp_path):
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config("/dev/zero")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(tmp_path)


def test_profile_with_a_bad_template_is_refused_on_save(tmp_path):
    store = ProfileStore(tmp_path)
    with pytest.raises(ConfigError, match="option 'out': output template '@GRP/@FOO4': unknown token"):
        store.save("bad", Profile(out="@GRP/@FOO4"))
    assert store.names() == []
