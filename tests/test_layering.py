"""The packages point one way: core < db < runtime < models < worker < web, cli. Every import is
read (those inside functions too), so a lazy import cannot hide a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Folder -> import prefix, as pyproject.toml maps them.
FOLDERS = {"core": "latentq", "db": "latentq.db", "runtime": "latentq.runtime", "models": "latentq.models",
           "worker": "latentq.worker", "web": "latentq.web", "cli": "latentq.cli"}
RANK = {"core": 0, "db": 1, "runtime": 2, "models": 3, "worker": 4, "web": 4, "cli": 5}


def module_name(folder: str, path: Path) -> str:
    parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([FOLDERS[folder], *parts])


def layer_of(module: str) -> str:
    for folder, prefix in sorted(FOLDERS.items(), key=lambda kv: -len(kv[1])):
        if folder != "core" and (module == prefix or module.startswith(prefix + ".")):
            return folder
    return "core"


def imports() -> dict[str, set[str]]:
    """{module: the latentq modules it imports}, from every .py file of the package."""
    found: dict[str, set[str]] = {}
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = module_name(folder, path)
            package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
            targets: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    targets.update(a.name for a in node.names if a.name.startswith("latentq"))
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                    if base.startswith("latentq"):
                        targets.update(f"{base}.{a.name}" for a in node.names)
            found[name] = targets
    return found


def resolve(target: str, modules: set[str]) -> str | None:
    """`latentq.models.gan.model.GAN` -> `latentq.models.gan.model`: the longest module prefix."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def test_no_import_reaches_a_layer_above():
    graph = imports()
    upward = []
    for module, targets in graph.items():
        for target in targets:
            resolved = resolve(target, set(graph))
            if resolved and RANK[layer_of(resolved)] > RANK[layer_of(module)]:
                upward.append(f"{module} -> {resolved}")
    assert not upward, "imports that point up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycle_between_modules():
    graph = imports()
    modules = set(graph)
    edges = {m: {r for t in targets if (r := resolve(t, modules)) and r != m} for m, targets in graph.items()}
    # A package's __init__ importing its own submodules is how Python packages work, not a cycle.
    for m in edges:
        edges[m] = {t for t in edges[m] if not t.startswith(m + ".")}
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not cycles, "modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_every_module_is_read(folder):
    assert any(module.startswith(FOLDERS[folder]) for module in imports())
