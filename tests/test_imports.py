"""Imports point one way, down the layers of ../shared/DESIGN.md: core, input, kinds, spec, analysis,
backend, views, commands. A module may import (at module level, outside `if TYPE_CHECKING`) only
modules of its own layer or below, and no two modules import each other in a circle; importing the
results and their renderers loads neither pydantic nor a single layer kind."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cnnsize"

LAYERS = {
    "core": ["errors", "values", "units", "shapes", "spelling", "receptive", "calculator"],
    "input": ["yamlio", "expressions", "params", "blocks", "zoo"],
    "kinds": ["fields", "kinds"],
    "spec": ["schema", "loader", "spec_schema"],
    "analysis": [
        "graph",
        "engine",
        "memory",
        "memory_report",
        "report",
        "parallel",
        "step",
        "headroom",
        "planner",
        "checkpoint_search",
        "checkpointing",
        "resolution",
        "budgets",
        "depth",
        "verification",
        "distributed_verification",
        "rank_plan",
        "diff",
        "conventions",
        "provenance",
        "sharing",
        "paths",
        "folding",
    ],  # fmt: skip
    "backend": ["backend"],
    "views": [
        "listing",
        "latex",
        "conv_figure",
        "picture",
        "render_svg",
        "render",
        "render_memory",
        "render_distributed",
        "render_verify",
        "render_diff",
        "render_views",
        "render_html",
    ],
    "commands": ["commands", "cli", "__main__", "__init__"],
}
RANK = {part: rank for rank, parts in enumerate(LAYERS.values()) for part in parts}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The rank of a module's layer by its first name below `cnnsize` (`cnnsize` itself: commands)."""
    parts = module.split(".")
    return RANK[parts[1]] if len(parts) > 1 else RANK["__init__"]


def module_imports(path: Path) -> set[str]:
    """The cnnsize modules `path` imports when it is imported (not inside functions or TYPE_CHECKING)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cnnsize":
            if node.module == "cnnsize":
                found |= {f"cnnsize.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "cnnsize"}
    return found


GRAPH = {module_name(path): module_imports(path) for path in PACKAGE.rglob("*.py")}


def test_every_module_has_a_layer():
    assert [m for m in GRAPH if m != "cnnsize" and m.split(".")[1] not in RANK] == []


def test_imports_point_down_the_layers():
    upward = [
        f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if target in GRAPH and layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_import_cycle():
    done: set[str] = set()

    def visit(module: str, stack: list[str]) -> None:
        if module in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(module) :] + [module]))
        if module in done:
            return
        for target in sorted(GRAPH.get(module, ())):
            if target in GRAPH and target != module:
                visit(target, stack + [module])
        done.add(module)

    for module in GRAPH:
        visit(module, [])


def test_results_and_their_renderers_load_neither_pydantic_nor_kinds():
    code = (
        "import sys, cnnsize.report, cnnsize.render, cnnsize.render_memory, cnnsize.memory_report; "
        "print(sorted(m for m in sys.modules if m == 'pydantic' or m.startswith('cnnsize.kinds')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
