"""The dependency rules of docs/overview.md, enforced on the source with no exceptions.

Layers, lowest first; a module imports only from its own layer or lower ones:

0. leaves: ``rig`` itself, config, errors, events, paths, manifest, profiles;
1. backends: ``rig/motion/``, ``rig/camera/``;
2. the sequencer (with its plan and frame storage) and the merge;
3. ``rig/machine.py``, the one composition root;
4. the entry points: ``rig/cli/``, ``rig/web/``, ``rig/shutdown_button.py``.

A module not named here (a new helper module) gets the lowest layer its own imports allow, so it
can never be the way round the rules. Imports count wherever they are written (module level or
inside a function). On top of the layers: no import cycles, the merge is pure (leaves and itself
only), the web never imports the CLI, and only the backend factories (``rig/motion/__init__.py``,
``rig/camera/__init__.py``, used by the composition root) import a backend module.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import rig.camera
import rig.motion

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "rig"
HARDWARE = {"gpiozero", "serial", "gphoto2", "picamera2", "libcamera", "lgpio", "RPi", "pigpio"}
# modules that talk to hardware libraries themselves: the backends, `rig check`'s probes, the shutdown button
HARDWARE_USERS = ("rig.motion.", "rig.camera.", "rig.hardware_detect", "rig.shutdown_button")
LEAF, BACKEND, SEQUENCER, MACHINE, ENTRY = range(5)
LAYER_NAMES = ["leaf", "backend", "sequencer/merge", "machine", "cli/web"]
LAYERS: list[tuple[str, int]] = [  # (module or package, layer); a package covers its sub-modules
    ("rig.config", LEAF),  # the package rig/config/ (config_*.py until they move in: their layer is inferred)
    ("rig.errors", LEAF),
    ("rig.events", LEAF),
    ("rig.paths", LEAF),
    ("rig.manifest", LEAF),
    ("rig.profiles", LEAF),
    ("rig.motion", BACKEND),
    ("rig.camera", BACKEND),
    ("rig.plan", SEQUENCER),
    ("rig.frame_store", SEQUENCER),
    ("rig.sequencer", SEQUENCER),
    ("rig.merge", SEQUENCER),
    ("rig.machine", MACHINE),
    ("rig.cli", ENTRY),
    ("rig.web", ENTRY),
    ("rig.shutdown_button", ENTRY),
]
# the backends the factories import by name: nothing else imports them
BACKEND_MODULES = {
    value.split(":")[0] for value in (*rig.motion.BACKEND_MODULES.values(), *rig.camera.BACKEND_MODULES.values())
}
BACKEND_PACKAGES = ("rig.motion", "rig.camera")
BACKEND_PUBLIC = {"rig.motion", "rig.motion.base", "rig.camera", "rig.camera.base"}  # factories and interfaces


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def sources() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


@functools.cache
def imports(name: str, top_level_only: bool = False) -> frozenset[str]:
    """Every module ``name`` imports (absolute names; ``from pkg import mod`` counts as ``pkg.mod``)."""
    path = sources()[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in sources() else module)
    return frozenset(found)


def project_imports(name: str) -> set[str]:
    return {m for m in imports(name) if m in sources()}


def declared_layer(name: str) -> int | None:
    if name == "rig":  # the package itself: its __version__
        return LEAF
    best: tuple[int, int] | None = None
    for prefix, layer in LAYERS:
        if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), layer)
    return None if best is None else best[1]


@functools.cache
def layer(name: str) -> int:
    """The declared layer, or for an undeclared module the lowest its imports allow."""
    declared = declared_layer(name)
    if declared is not None:
        return declared
    return max((layer(m) for m in project_imports(name) if m != name), default=LEAF)


def cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    graph = {name: sorted(project_imports(name)) for name in sources()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_cycles():
    assert cycles() == []


def test_every_import_points_down_the_layers():
    upward = [
        f"{name} ({LAYER_NAMES[layer(name)]}) imports {dep} ({LAYER_NAMES[layer(dep)]})"
        for name in sources()
        for dep in sorted(project_imports(name))
        if layer(dep) > layer(name)
    ]
    assert upward == []


def test_the_merge_is_pure_files_in_files_out():
    bad = [
        f"{name} imports {dep}"
        for name in sources()
        if name == "rig.merge" or name.startswith("rig.merge.")
        for dep in sorted(project_imports(name))
        if not (dep == "rig.merge" or dep.startswith("rig.merge.")) and layer(dep) != LEAF
    ]
    assert bad == []


def test_the_web_never_imports_the_cli():
    bad = [
        f"{name} imports {dep}"
        for name in sources()
        if name.startswith("rig.web")
        for dep in project_imports(name)
        if dep == "rig.cli" or dep.startswith("rig.cli.")
    ]
    assert bad == []


def test_only_the_backend_factories_import_backends():
    """A backend module (one a factory names in BACKEND_MODULES) is imported by nobody: the factory
    loads it by name. A backend's helper (motion/common.py, camera/devthread.py, ...) stays inside its
    package. Everyone else sees a backend only through its package's factory and base interfaces."""
    bad = []
    for name in sources():
        for dep in sorted(project_imports(name)):
            package = next((p for p in BACKEND_PACKAGES if dep.startswith(p + ".")), None)
            if package is None or dep in BACKEND_PUBLIC:
                continue
            if dep in BACKEND_MODULES or not name.startswith(package + "."):
                bad.append(f"{name} imports {dep}")
    assert bad == []


def test_the_layers_are_declared_for_the_modules_they_name():
    """The table above names real modules (a renamed module must not silently leave its layer)."""
    names = set(sources())
    missing = [p for p, _ in LAYERS if p not in names and not any(n.startswith(p + ".") for n in names)]
    assert missing == []
    assert names >= BACKEND_MODULES


def test_only_the_web_package_imports_flask():
    bad = [
        f"{name} imports {dep}"
        for name in sources()
        if not name.startswith("rig.web")
        for dep in sorted(imports(name))
        if dep.split(".")[0] in {"flask", "werkzeug"}
    ]
    assert bad == []


def test_hardware_libraries_are_imported_lazily_and_only_by_backends():
    for name in sources():
        top = {m.split(".")[0] for m in imports(name, True)}
        assert not top & HARDWARE, f"{name} imports {top & HARDWARE} at module level"
        anywhere = {m.split(".")[0] for m in imports(name)}
        if anywhere & HARDWARE:
            assert name.startswith(HARDWARE_USERS), f"{name} imports {anywhere & HARDWARE}"


def test_every_module_imports_without_hardware_libraries():
    names = [n for n in sources() if not n.endswith("__main__")]
    code = (
        "import sys, importlib\n"
        f"for lib in {sorted(HARDWARE)!r}: sys.modules[lib] = None\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
