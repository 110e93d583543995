"""The dependency rules of docs/overview.md, enforced on the source."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "rig"
HARDWARE = {"gpiozero", "serial", "gphoto2", "picamera2", "libcamera", "lgpio", "RPi", "pigpio"}
BACKEND_FILES = {
    "motion/gpio.py",
    "motion/stackshot.py",
    "motion/pico.py",
    "motion/lens.py",
    "camera/gphoto.py",
    "camera/shutter.py",
    "camera/picam.py",
}


def modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py"))


def imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_the_web_package_imports_flask():
    for path in modules():
        rel = path.relative_to(PKG).as_posix()
        if rel.startswith("web/"):
            continue
        assert (
            not {m for m in imports(path, False) if m.split(".")[0] in {"flask", "werkzeug", "waitress"}}
            or rel == "cli/cmd_serve.py"
        ), rel


def test_hardware_libraries_are_imported_lazily_and_only_by_backends():
    for path in modules():
        rel = path.relative_to(PKG).as_posix()
        top = {m.split(".")[0] for m in imports(path, True)}
        assert not top & HARDWARE, f"{rel} imports {top & HARDWARE} at module level"
        anywhere = {m.split(".")[0] for m in imports(path, False)}
        if anywhere & HARDWARE:
            assert (
                rel in BACKEND_FILES
                or rel in {"hardware_detect.py", "shutdown_button.py"}
                or rel.startswith("motion/stackshot")
                or rel.startswith("motion/pico")
            ), rel


def test_sequencer_and_merge_never_see_a_backend():
    backends = {f"rig.{f[:-3].replace('/', '.')}" for f in BACKEND_FILES} | {"rig.motion.sim", "rig.camera.sim"}
    for name in ("sequencer.py", "plan.py", "manifest.py", "paths.py"):
        assert not imports(PKG / name, False) & backends, name
    for path in (PKG / "merge").rglob("*.py"):
        assert not {m for m in imports(path, False) if m.startswith(("rig.motion", "rig.camera"))}, path


def test_every_module_imports_without_hardware_libraries():
    names = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in modules()]
    names = [n[: -len(".__init__")] if n.endswith(".__init__") else n for n in names]
    names = [n for n in names if not n.endswith("__main__")]
    code = (
        "import sys, importlib\n"
        f"for lib in {sorted(HARDWARE)!r}: sys.modules[lib] = None\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (anywhere in the file, lazy imports too)."""
    folder = ROOT.joinpath(*package.split("."))
    names = {}
    for path in folder.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}  # `from rig.web import api`
        graph[name] = {m for m in found if m in names and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules in order, the first repeated at the end), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        for nxt in sorted(graph[node]):
            cycle = visit(nxt, path + [node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_web_package_has_no_import_cycle():
    graph = import_graph("rig.web")
    assert {"rig.web.app", "rig.web.api", "rig.web.context"} <= graph.keys()
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


@pytest.mark.parametrize("package", ["rig.config", "rig.install"])
def test_the_config_and_install_packages_have_no_import_cycle(package):
    graph = import_graph(package)
    assert len(graph) > 1, package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])
