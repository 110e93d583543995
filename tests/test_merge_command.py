"""rig/merge/command.py: the argument list a parent builds is what the child parses, and the
PROGRESS/DONE/ERROR lines it prints are what the parent reads."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from rig.merge import command


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(argv)


def test_child_arguments_parse_back_to_the_same_options(tmp_path: Path) -> None:
    cmd = command.child_argv(
        tmp_path,
        tmp_path / "m.tif",
        depthmap=tmp_path / "d.png",
        jpeg=tmp_path / "m.jpg",
        align=False,
        overwrite=True,
        follow=True,
        extra_args=["--reference", "1"],
    )
    assert cmd[:3] == [sys.executable, "-m", "rig.merge"]
    args = _parse(cmd[3:])
    opts = command.options_from_args(args)
    assert (args.input, args.output, args.progress) == (str(tmp_path), str(tmp_path / "m.tif"), "lines")
    assert (opts.depthmap, opts.jpeg) == (tmp_path / "d.png", tmp_path / "m.jpg")
    assert (opts.align, opts.overwrite, opts.follow, opts.reference) == (False, True, True, 1)
    defaults = command.options_from_args(_parse(command.child_argv("in", "out.png")[3:]))
    assert (defaults.align, defaults.overwrite, defaults.follow, defaults.depthmap) == (True, False, False, None)


def test_lines_round_trip() -> None:
    line = command.parse_line(command.progress_line(0.25, "focus 3/12"))
    assert line == command.Line(command.PROGRESS, 0.25, "focus 3/12")
    assert command.parse_line(command.done_line("/x/merged.tif")) == command.Line(command.DONE, 1.0, "/x/merged.tif")
    error = command.error_line("bad\nslice")
    assert error.count("\n") == 1 and command.parse_line(error) == command.Line(command.ERROR, 0.0, "bad slice")
    assert command.parse_line("some log output\n") is None
    assert command.parse_line("PROGRESS many things\n") is None


def test_the_child_module_does_not_import_the_cli(tmp_path: Path) -> None:
    code = "import sys, runpy; sys.argv = ['x', '--help']\ntry:\n runpy.run_module('rig.merge', run_name='__main__')\n"
    code += "except SystemExit:\n pass\nassert 'rig.cli' not in sys.modules, 'rig.cli imported'\nprint('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr


def test_a_failing_child_reports_an_error_line(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    result = subprocess.run(
        command.child_argv(tmp_path / "one", tmp_path / "o.png"), capture_output=True, text=True, timeout=60
    )
    lines = [command.parse_line(ln) for ln in result.stdout.splitlines()]
    assert result.returncode == 2
    assert [ln.kind for ln in lines if ln][-1:] == [command.ERROR] and "no slices" in lines[-1].text
    assert result.stderr.strip().startswith(command.ERROR_PREFIX)


def test_nothing_in_the_merge_package_imports_the_cli_or_the_web() -> None:
    import ast

    for path in sorted((Path(command.__file__).parent).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            assert not [n for n in names if n.startswith(("rig.cli", "rig.web"))], path.name
