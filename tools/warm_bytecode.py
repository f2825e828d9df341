"""Write bytecode for what the kit's processes import, not for all of site-packages.

``./kit`` used to install the venv with uv's ``--compile-bytecode``: all 12,700 files, most
never loaded (the bulk of torch, sympy, scipy, scikit-learn). Measured back to back on this
2-core machine, the install took 38 s wall and 71 CPU s that way; without it, 5 s and 4 CPU s,
plus 27 s and 48 CPU s here. The bytecode cannot be left to first use: graders and
sandboxed workers run with ``PYTHONDONTWRITEBYTECODE`` (no ``__pycache__`` beside hidden
tests or student files; the sandbox's view of the venv is read-only anyway), so a module
without a ``.pyc`` is compiled in memory by every process that imports it (torch: 4 s each).

Two steps, each in two processes:
1. import the modules the engine, nbgrader and the test suite load, with writing on;
2. compile whole every package that step 1 touched and that is small (``WHOLE_BELOW``), and
   site-packages' top-level modules. Small packages import lazily at run time (hypothesis's
   engine in every grader, pydevd in every kernel, formgrader's server stack), and chasing
   each lazy import costs more than the compile. The big packages keep step 1's coverage.

A module missed here costs time, never a result: it is compiled where it is imported.
Usage: ``.venv/bin/python tools/warm_bytecode.py`` (stdout: one summary line).
"""
from __future__ import annotations

import compileall
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import sysconfig
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

# What is loaded by name or on a first call, in two groups that two processes import at once
# (a module both import is compiled twice, harmlessly: the writes are atomic). First the
# graders' and the zygote's preloads (labkit/grade.py, labkit/zygote.py) and the lab's own
# imports...
NUMERIC = [
    "torch", "torch._dynamo", "torch.optim", "torch.utils.data", "torch.nn.functional",
    "numpy", "sklearn.metrics", "sklearn.model_selection", "sklearn.datasets",
    "matplotlib", "matplotlib.pyplot", "matplotlib.backends.backend_agg", "torchinfo",
    "contourpy", "hypothesis", "hypothesis.strategies", "hypothesis.extra.numpy",
    "pytest", "xdist", "xdist.plugin", "execnet",
]
# ...then nbgrader's apps with what they load per command (the gradebook's migrations, the
# HTML exporter's highlighting), the in-kernel (stock) mode's kernel, Dask, formgrader's
# JupyterLab, the similarity report, and labkit's own modules.
JUPYTER = [
    "nbformat", "nbconvert", "nbconvert.exporters.html", "nbclient", "jupyter_client",
    "ipykernel_launcher", "ipykernel.kernelapp", "ipykernel.ipkernel", "debugpy.server.api", "IPython.lib.lexers",
    "matplotlib_inline.backend_inline", "nbgrader.apps", "nbgrader.preprocessors", "nbgrader.plugins",
    "nbgrader.api", "nbgrader.converters", "nbgrader.server_extensions.formgrader",
    "sqlalchemy.dialects.sqlite", "alembic.runtime.migration", "pygments.lexers", "pygments.formatters.html",
    "jupyter_server.serverapp", "jupyterlab.labapp", "notebook.app", "jupyter_lsp", "jupyter_server_terminals",
    "terminado", "httpx", "httpcore", "h11", "dask", "dask.distributed",
    "distributed", "websocket", "tqdm", "copydetect",
]
GROUPS = {"numeric": NUMERIC, "jupyter": JUPYTER}
# Packages under this much source are compiled whole once touched (hypothesis 1.8 MB, Dask's
# distributed 2.3 MB, in all 35 MB); torch (46 MB), sympy, scipy, scikit-learn, numpy,
# SQLAlchemy, matplotlib, dask, debugpy, fontTools, pygments and setuptools (2.6 MB) are not.
WHOLE_BELOW = 2_500_000
SITE = Path(sysconfig.get_paths()["purelib"])


def _import(name: str) -> str | None:
    try:
        importlib.import_module(name)
    except Exception as error:  # noqa: BLE001  (an optional module may be absent: warm the rest)
        return f"{name}: {type(error).__name__}: {error}"
    return None


def _names(group: str) -> list[str]:
    if group != "jupyter":
        return GROUPS[group]
    import labkit
    return GROUPS[group] + [info.name for info in pkgutil.walk_packages(labkit.__path__, "labkit.")
                            if not info.name.endswith(".__main__")]  # __main__ would run the CLI


def touched(site: Path = SITE) -> set[str]:
    """The top-level packages (directories) of ``site`` that this process has imported from."""
    found = set()
    for module in list(sys.modules.values()):
        path = Path(getattr(module, "__file__", None) or "/")
        if site in path.parents and path.parent != site:
            found.add(path.relative_to(site).parts[0])
    return found


def import_group(group: str) -> tuple[list[str], set[str]]:
    """Step 1 for one group: (messages of modules that failed, packages touched)."""
    sys.dont_write_bytecode = False  # for this process only, whatever the environment says
    os.environ.setdefault("MPLBACKEND", "Agg")
    failed = [message for message in map(_import, _names(group)) if message]
    return failed, touched()


def source_bytes(package: Path) -> int:
    return sum(path.stat().st_size for path in package.rglob("*.py"))


def compile_whole(site: Path, packages: set[str], *, below: int = WHOLE_BELOW) -> tuple[list[str], bool]:
    """Step 2: compile every file of the packages under ``below`` bytes of source, and the
    top-level modules. (the packages compiled, whether every file compiled)"""
    whole = sorted(name for name in packages if source_bytes(site / name) < below)
    # The top-level modules include the editable install's finder, which every interpreter
    # in the venv imports at start-up (before any script could switch writing on). One pool
    # for all; compile_file skips what step 1 already wrote.
    files = [path for name in whole for path in sorted((site / name).rglob("*.py"))] + sorted(site.glob("*.py"))
    with ProcessPoolExecutor(2) as pool:
        ok = all(pool.map(partial(compileall.compile_file, quiet=2), files, chunksize=64))
    return whole, ok


def main(argv: list[str]) -> int:
    if argv:  # a helper process: one group, its result as JSON on stdout
        failed, packages = import_group(argv[0])
        print(json.dumps({"failed": failed, "touched": sorted(packages)}))
        return 0
    others = [subprocess.Popen([sys.executable, __file__, group], stdout=subprocess.PIPE, text=True)
              for group in list(GROUPS)[1:]]
    failed, packages = import_group(next(iter(GROUPS)))
    for other in others:
        out, _ = other.communicate()
        result = json.loads(out.strip().splitlines()[-1]) if other.returncode == 0 and out.strip() else None
        if result is None:
            failed.append(f"a group's process failed (exit {other.returncode})")
            continue
        failed += result["failed"]
        packages |= set(result["touched"])
    whole, ok = compile_whole(SITE, packages)
    for message in failed:
        print(f"warm_bytecode: not imported, {message}", file=sys.stderr)
    print(f"warm_bytecode: {len(packages)} packages imported from, {len(whole)} of them compiled whole"
          f"{'' if ok else ' (some files did not compile)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
