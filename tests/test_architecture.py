"""Dependencies point one way: models imports neither streamlit nor plotly; viz does not import streamlit."""

import subprocess
import sys

import pytest

CHECK = """
import importlib, pkgutil, sys
package = importlib.import_module({package!r})
for module in pkgutil.iter_modules(package.__path__):
    importlib.import_module(f"{package}.{{module.name}}")
print(",".join(sorted(name for name in {forbidden!r} if name in sys.modules)))
"""


@pytest.mark.parametrize(("package", "forbidden"), [("models", ("streamlit", "plotly")), ("viz", ("streamlit",))])
def test_package_imports_without(package, forbidden):
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(package=package, forbidden=forbidden)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "", f"{package} pulled in {result.stdout.strip()}"
