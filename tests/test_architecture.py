"""The tree shows the architecture, and import-linter keeps it (the contracts in pyproject.toml):
the layers from the CLI down to the core, a worker that sees only the protocol and the core,
no package importing the CLI, no import cycle inside a package."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labkit.core.settings import REPO_ROOT


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "4 kept, 0 broken" in done.stdout, done.stdout[-2000:]


def test_no_engine_module_lies_flat_beside_the_packages():
    flat = sorted(p.name for p in (REPO_ROOT / "labkit").glob("*.py"))
    assert flat == ["__init__.py", "__main__.py"], flat
