"""A name a module moved out of it and still re-exports (its ``__all__`` lists a name it
imports: ``duplexsim.tokens`` hands out ``check_units``, which lives in
``duplexsim.unit_arrays``) is there for code outside this repository. The library and its
scripts import each name from its home, so that there is one place to look for it. Package
``__init__`` files are the packages' own front doors and are left out."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PENDING: set[tuple[str, str, str]] = set()
"""Imports through a re-export left for now (none): repoint them and drop the entries."""


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imported(tree: ast.Module) -> set[str]:
    """The names a module imports at its top level (``if TYPE_CHECKING:`` blocks too)."""
    nodes = list(tree.body)
    nodes += [n for block in tree.body if isinstance(block, ast.If) for n in block.body]
    return {a.asname or a.name for n in nodes if isinstance(n, ast.ImportFrom) for a in n.names}


def _exported(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
    return set()


def reexports() -> dict[str, set[str]]:
    """Each module of the library (packages' ``__init__`` aside) -> the names it re-exports."""
    out = {}
    for path in (ROOT / "duplexsim").rglob("*.py"):
        if path.name != "__init__.py":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            out[_module(path)] = _exported(tree) & _imported(tree)
    return {m: names for m, names in out.items() if names}


def through_reexports() -> set[tuple[str, str, str]]:
    """(file, module, name) of each ``from module import name`` in the library and its
    scripts, and each ``module.name`` of a module imported whole, where ``module`` only
    re-exports ``name``."""
    table = reexports()
    found = set()
    for folder in ("duplexsim", "experiments", "docs/results"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            where = str(path.relative_to(ROOT))
            modules = {}  # a name bound to a whole module of the table -> that module
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    for alias in node.names:
                        if f"{node.module}.{alias.name}" in table:
                            modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                        elif alias.name in table.get(node.module, ()):
                            found.add((where, node.module, alias.name))
                elif isinstance(node, ast.Import):
                    modules.update({a.asname: a.name for a in node.names
                                    if a.asname and a.name in table})
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                        and node.attr in table.get(modules.get(node.value.id, ""), ()):
                    found.add((where, modules[node.value.id], node.attr))
    return found


def test_the_library_imports_each_name_from_its_home() -> None:
    found = through_reexports()
    assert found - PENDING == set(), "import these from their home: " + ", ".join(
        f"{file}: {name} (from {module}, which re-exports it)"
        for file, module, name in sorted(found - PENDING))
    assert not PENDING - found, f"imported from home now, drop from PENDING: {PENDING - found}"


def test_the_moved_names_are_seen_as_reexports() -> None:
    """The check knows the re-exports it is to catch (an empty table passes anything)."""
    table = reexports()
    assert {"check_units", "check_chunk", "as_id_array"} <= table["duplexsim.tokens"]
    assert {"plain_fields", "check_field_types"} <= table["duplexsim.config.loader"]
    assert {"FieldError", "FieldErrors", "check", "raise_errors", "reading"} \
        <= table["duplexsim.config.loader"]
    assert {"ModelCard", "StageCard", "TrainCard", "TdmCard"} <= table["duplexsim.config.card"]
    assert {"build_record", "check_rebuild"} <= table["duplexsim.corpora.build"]
    assert {"replace_dir", "exclusive_run"} <= table["duplexsim.atomic"]
