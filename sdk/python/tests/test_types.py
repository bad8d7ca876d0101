"""The package type-checks under mypy --strict, and so does code using it (typed_usage.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_mypy_strict_on_the_package_and_a_user() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         str(ROOT / "src" / "agentsecretstore"), str(ROOT / "tests" / "typed_usage.py")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success" in r.stdout


def test_py_typed_marker_ships() -> None:
    assert (ROOT / "src" / "agentsecretstore" / "py.typed").exists()
