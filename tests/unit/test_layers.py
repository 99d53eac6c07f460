"""The code's layering, enforced: every import in src (at the top of a module or inside a
function) names a module that exists and goes one way, sources -> store -> levels/indicators -> analyses -> outputs; measures
stand alone; no two modules import each other; no module uses another's private ``_names``.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from support import ROOT

SRC = ROOT / "src"

#: Each layer may import its own layer and those before it (module-name prefixes).
LAYERS = [
    ("placehealth.sources", "placehealth.tables"),
    ("placehealth.store", "placehealth.backend"),
    ("placehealth.levels", "placehealth.geography", "placehealth.indicators"),
    ("placehealth.analyses",),
    ("placehealth.outputs", "placehealth.__main__"),
]
#: Statistics stand alone: they import nothing of placehealth but themselves.
MEASURES = "placehealth.measures"

#: Known violations still to remove. This list may only shrink: an entry that no longer occurs
#: fails the test until it is deleted here.
KNOWN: set[str] = set()


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    package: bool

    @property
    def parent(self) -> str:
        return self.name if self.package else self.name.rpartition(".")[0]


def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if package else parts)
        found[name] = Module(name, path, package)
    return found


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer(name: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(within(name, p) for p in prefixes):
            return rank
    return None


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def imports(module: Module, known: dict[str, Module]) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every placehealth import, anywhere."""
    out = []
    for node in ast.walk(ast.parse(module.path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.parent.split(".")
                package = package[:len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub, None, node.lineno) if sub in known
                           else (base, alias.name, node.lineno))
    return [(m, n, line) for m, n, line in out if within(m, "placehealth")]


def private_attributes(module: Module, known: dict[str, Module]) -> list[tuple[str, str, int]]:
    """``alias._name`` uses where ``alias`` names an imported placehealth module."""
    tree = ast.parse(module.path.read_text())
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if within(a.name, "placehealth") and a.asname:
                    aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                if sub in known:
                    aliases[a.asname or a.name] = sub
    return [(aliases[node.value.id], node.attr, node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id in aliases and private(node.attr)]


def violations() -> set[str]:
    known = modules()
    found: set[str] = set()
    edges: set[tuple[str, str]] = set()
    for module in known.values():
        for target, name, line in imports(module, known):
            where = f"{module.name}:{line}"
            if target not in known:  # e.g. an old path inside a function, missed until it runs
                found.add(f"import of a module that does not exist: {target} ({where})")
            if target != module.name:
                edges.add((module.name, target))
            if within(module.name, MEASURES) and not within(target, MEASURES):
                found.add(f"measures import {target} ({where})")
            mine, theirs = layer(module.name), layer(target)
            if mine is not None and theirs is not None and theirs > mine:
                found.add(f"backward import {module.name} -> {target} ({where})")
            private_module = any(private(part) for part in target.split("."))
            if private_module and not within(module.name, target.rpartition(".")[0]):
                found.add(f"private module {target} used by {module.name} ({where})")
            if name and private(name) and target != module.name:
                found.add(f"private name {target}.{name} used by {module.name} ({where})")
        for target, attr, line in private_attributes(module, known):
            found.add(f"private name {target}.{attr} used by {module.name} "
                      f"({module.name}:{line})")
    for a, b in edges:
        if (b, a) in edges and a < b and not within(a, b) and not within(b, a):
            found.add(f"import cycle {a} <-> {b}")
    return found


def strip_lines(items: set[str]) -> set[str]:
    """Violations without line numbers (so the known list survives edits elsewhere)."""
    return {item.rsplit(" (", 1)[0] if "(" in item and item.endswith(")") else item
            for item in items}


def test_imports_follow_the_layers_and_never_go_both_ways():
    found = strip_lines(violations())
    new = sorted(found - KNOWN)
    assert not new, "layering violations:\n" + "\n".join(new)
    gone = sorted(KNOWN - found)
    assert not gone, "fixed: remove from KNOWN in tests/unit/test_layers.py:\n" + "\n".join(gone)


def test_the_checker_sees_imports_inside_functions_and_private_names(tmp_path, monkeypatch):
    package = tmp_path / "placehealth"
    (package / "measures").mkdir(parents=True)
    (package / "analyses").mkdir()
    for folder in (package, package / "measures", package / "analyses"):
        (folder / "__init__.py").write_text("")
    (package / "store.py").write_text("def f():\n    from placehealth.analyses import a\n")
    (package / "analyses" / "a.py").write_text(
        "from placehealth import store as s\n\n_x = 1\n\ndef g():\n    return s._hidden\n")
    (package / "analyses" / "b.py").write_text("from placehealth.analyses.a import _x\n")
    (package / "measures" / "m.py").write_text("import placehealth.store\n")
    (package / "analyses" / "d.py").write_text("def h():\n    from placehealth.gone import x\n")
    (package / "outputs").mkdir()
    (package / "outputs" / "_helpers.py").write_text("")
    (package / "analyses" / "c.py").write_text("from placehealth.outputs import _helpers\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    found = strip_lines(violations())
    assert found == {
        "backward import placehealth.store -> placehealth.analyses.a",
        "import cycle placehealth.analyses.a <-> placehealth.store",
        "private name placehealth.store._hidden used by placehealth.analyses.a",
        "private name placehealth.analyses.a._x used by placehealth.analyses.b",
        "measures import placehealth.store",
        "import of a module that does not exist: placehealth.gone",
        "backward import placehealth.analyses.c -> placehealth.outputs._helpers",
        "private module placehealth.outputs._helpers used by placehealth.analyses.c",
    }
