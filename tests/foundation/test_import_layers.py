"""The layers of the project and which may import which (README, "Architecture"):

    main.py -> lightning_app (CLI, tools, callbacks) -> models, data_modules -> foundation (leaf)

A lower layer importing a higher one (data or models importing the CLI layer, data and models importing each other,
the leaf importing anything of the project) makes this test fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import PROJECT_ROOT

PACKAGES = ("foundation", "data_modules", "models", "lightning_app")
# package -> the project packages it may import
ALLOWED = {
    "foundation": set(),
    "data_modules": {"foundation"},
    "models": {"foundation"},
    "lightning_app": {"foundation", "data_modules", "models"},
}


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def test_no_layer_imports_a_higher_one():
    violations = []
    for package, allowed in ALLOWED.items():
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            for imported in _imported_packages(path) - allowed - {package}:
                violations.append(f"{path.relative_to(PROJECT_ROOT)} imports {imported}")
    assert not violations, "\n".join(violations)


def test_the_checker_sees_a_violation(tmp_path):
    """The control: an import of the CLI layer in a data module is reported."""
    module = tmp_path / "bad.py"
    module.write_text("from lightning_app.errors import ConfigError\nimport models.masked_lm\n")
    assert _imported_packages(module) == {"lightning_app", "models"}


def test_benchmarks_import_the_installed_project():
    for path in sorted((PROJECT_ROOT / "bench").glob("*.py")):
        assert "sys.path.insert" not in path.read_text(), f"{path.name} edits sys.path"


def test_files_and_functions_stay_small():
    """No production file over 250 lines, no function over 40 (STYLE.md)."""
    too_long = []
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            text = path.read_text()
            if len(text.splitlines()) > 250:
                too_long.append(f"{path.relative_to(PROJECT_ROOT)}: {len(text.splitlines())} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = node.end_lineno - node.lineno + 1
                    if length > 40:
                        too_long.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, "\n".join(too_long)


def _readme_layers() -> list[set[str]]:
    """The packages on each line of README.md's layer picture, top (highest) line first."""
    import re

    block = (PROJECT_ROOT / "README.md").read_text().split("## The layers", 1)[1].split("```")[1]
    return [set(re.findall(r"(\w+)/", line)) & set(PACKAGES) for line in block.strip().splitlines()]


def test_the_readme_picture_is_the_layer_rule():
    """Each package in README's picture may import exactly the packages drawn below it (models and data_modules,
    drawn side by side, not each other), and every package is drawn once."""
    layers = _readme_layers()
    drawn = [package for line in layers for package in line]
    assert sorted(drawn) == sorted(PACKAGES)
    for index, line in enumerate(layers):
        below = set().union(*layers[index + 1:])
        for package in line:
            assert ALLOWED[package] == below, f"README draws {package} above {sorted(below)}; the rule allows " \
                                              f"{sorted(ALLOWED[package])}"
