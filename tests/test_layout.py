"""Dependencies point one way: pages -> viz, models; viz -> models; inside models: labs -> blocks, data -> core.

Read from the source (every import statement of every module), and checked once more at run time: importing
all of ``models`` loads neither streamlit nor plotly, and importing all of ``viz`` loads no streamlit.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from models.core.registry import LABS

ROOT = Path(__file__).resolve().parent.parent
# package -> top-level names (or dotted prefixes) its modules must not import
FORBIDDEN = {
    "models": ("streamlit", "plotly", "pages", "viz"),
    "models/core": ("models.blocks", "models.data", "models.labs"),
    "models/blocks": ("models.data", "models.labs"),
    "models/data": ("models.blocks", "models.labs"),
    "viz": ("streamlit", "pages"),
}


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def breaks(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("package", FORBIDDEN)
def test_imports_point_one_way(package):
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in imported_names(path)
        if any(breaks(name, prefix) for prefix in FORBIDDEN[package])
    ]
    assert not offences


def test_nothing_outside_pages_and_app_imports_pages():
    sources = [p for top in ("models", "viz", "bench") for p in (ROOT / top).rglob("*.py")]
    offences = [str(p.relative_to(ROOT)) for p in sources if any(breaks(n, "pages") for n in imported_names(p))]
    assert not offences


def test_a_lab_imports_no_other_lab():
    for lab in LABS:
        own = f"models.labs.{lab.key}"
        for path in (ROOT / "models" / "labs" / lab.key).rglob("*.py"):
            others = [n for n in imported_names(path) if breaks(n, "models.labs") and not breaks(n, own)]
            assert not others, f"{path.relative_to(ROOT)} imports {others}"


def test_every_registered_lab_has_its_page_package_and_viz_module():
    for lab in LABS:
        assert (ROOT / lab.page).is_file()
        assert (ROOT / "models" / "labs" / lab.key / "__init__.py").is_file()
        assert (ROOT / "viz" / f"{lab.key}.py").is_file()
        if lab.checkpoints:
            assert (ROOT / "models" / "labs" / lab.key / "pretrain.py").is_file()


def test_tests_mirror_the_packages():
    for lab in LABS:
        assert (ROOT / "tests" / "models" / "labs" / lab.key).is_dir()
    for package in ("core", "blocks", "data"):
        assert (ROOT / "tests" / "models" / package).is_dir()


CHECK = """
import importlib, pkgutil, sys
package = importlib.import_module({package!r})
for module in pkgutil.walk_packages(package.__path__, {package!r} + "."):
    importlib.import_module(module.name)
print(",".join(sorted(name for name in {forbidden!r} if name in sys.modules)))
"""


@pytest.mark.parametrize(("package", "forbidden"), [("models", ("streamlit", "plotly")), ("viz", ("streamlit",))])
def test_importing_a_whole_package_loads_nothing_forbidden(package, forbidden):
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(package=package, forbidden=forbidden)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert result.stdout.strip() == "", f"{package} pulled in {result.stdout.strip()}"
