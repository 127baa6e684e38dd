"""The shape of the code: no import cycles between plastix modules, lower layers never import
upper ones, and no module grows past a size a reader can hold in mind."""

import ast
from pathlib import Path

import plastix

ROOT = Path(plastix.__file__).parent
MAX_LINES = 400

# Each module's layer; a module may import its own layer (without cycles) and those below.
LAYERS = [
    ("plastix._version", "plastix._xla", "plastix.errors", "plastix.keys", "plastix.console"),
    ("plastix.config", "plastix.envs", "plastix.runs", "plastix.rundir"),
    ("plastix.nets", "plastix.optim", "plastix.replay", "plastix.framereplay"),
    ("plastix.agents", "plastix.onpolicy", "plastix.es", "plastix.icrl", "plastix.analysis"),
    ("plastix.plasticity",),
    ("plastix.distributed",),
    ("plastix.training", "plastix.probe"),
    ("plastix.algorithms",),
    ("plastix.api",),
    ("plastix.experiments",),
    ("plastix.cli", "plastix.__main__"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The plastix modules a module imports anywhere in it (functions too), with the packages
    whose ``__init__`` each import runs."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # ``from pkg import sub`` needs the submodule; ``from pkg import name`` the package
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        for target in targets:
            parts = target.split(".")
            # importing a.b.c runs a.b's __init__ too (the top-level facade aside), unless a.b
            # is a package the importing module lives in (it is initialised first)
            for i in range(2, len(parts) + 1):
                candidate = ".".join(parts[:i])
                ancestor = name.startswith(candidate + ".") and candidate != target
                if candidate in known and candidate != name and not ancestor:
                    found.add(candidate)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found) - {"plastix"}
    return {name: imports(path, name, known) for name, path in found.items() if name in known}


def layer_of(name: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{name} has no layer in tests/test_architecture.py")


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_lower_layers_never_import_upper_ones():
    upward = [
        f"{name} imports {target}"
        for name, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(name)
    ]
    assert not upward, upward


def test_no_module_is_over_the_size_limit():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long
