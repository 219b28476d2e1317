"""The runtime never imports the research: `sam3/`, `agent/`, `demo/` and `app.py` ship in the Space; the
ShapesWorld generator, training, benchmarks and tests do not.

Layers, lowest first: `sam3` (the SAM 3 tool), `agent` (may use sam3), `demo` and `app.py` (may use both).
Research (`shapesworld`, `training`, `benchmarks`, `tests`, `scripts`) may import anything.
Every import is read from the source (module level and inside functions, and `importlib.import_module`
with a literal name), so a lazy import cannot slip past.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESEARCH = ("shapesworld", "training", "benchmarks", "tests", "scripts")
# what each runtime layer may import from this repository
ALLOWED = {"sam3": ("sam3",), "agent": ("sam3", "agent"), "demo": ("sam3", "agent", "demo")}
OWN = ("sam3", "agent", "demo", *RESEARCH)


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import in `source`, relative imports excluded (they stay in the package)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append((node.lineno, node.args[0].value))
    return out


def violations(path: Path, layer: str) -> list[str]:
    allowed = ALLOWED[layer]
    bad = []
    for line, module in imported_modules(path.read_text()):
        top = module.split(".")[0]
        if top in OWN and top not in allowed:
            bad.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line} imports {module}")
    return bad


def runtime_files() -> list[tuple[Path, str]]:
    files = [(ROOT / "app.py", "demo")]
    for layer in ALLOWED:
        files += [(p, layer) for p in sorted((ROOT / layer).rglob("*.py"))]
    return files


def test_the_runtime_never_imports_research_or_a_higher_layer():
    bad = [v for path, layer in runtime_files() for v in violations(path, layer)]
    assert not bad, "wrong-way imports:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "layer, source",
    [
        ("sam3", "from shapesworld.video import render_video\n"),
        ("sam3", "def f():\n    import training.build\n"),
        ("sam3", "from agent.board import MaskBoard\n"),
        ("agent", "from benchmarks.referring_metrics import ReferringMetrics\n"),
        ("agent", "import importlib\nimportlib.import_module('demo.ui')\n"),
        ("demo", "from tests.llm_server import ScriptedServer\n"),
    ],
)
def test_a_wrong_way_import_is_caught(tmp_path, layer, source):
    path = tmp_path / "module.py"
    path.write_text(source)
    assert violations(path, layer)


def test_allowed_imports_pass(tmp_path):
    path = tmp_path / "module.py"
    path.write_text("import numpy\nfrom sam3.detections import Detections\nfrom agent.loop import Agent\n"
                    "from . import x\n")
    assert not violations(path, "demo") and not violations(path, "agent")
    assert violations(path, "sam3") == [f"{path}:3 imports agent.loop"]

