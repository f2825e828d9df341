"""tools/warm_bytecode.py: the venv gets bytecode for what the kit imports, not for everything."""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from labkit.settings import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import warm_bytecode  # noqa: E402


def _installed(name: str) -> bool:
    """Whether module ``name`` is installed, without importing its parents (find_spec would:
    scikit-learn alone takes 2 s)."""
    top, *rest = name.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not rest:
        return spec is not None
    return any((Path(location, *rest[:-1]) / rest[-1]).with_suffix(".py").is_file()
               or (Path(location, *rest) / "__init__.py").is_file()
               for location in spec.submodule_search_locations or ())


@pytest.mark.parametrize("name", [name for group in warm_bytecode.GROUPS.values() for name in group])
def test_every_listed_module_is_installed(name):
    # A renamed or dropped module would silently leave its imports uncompiled (slow, not wrong).
    assert _installed(name), name


def test_a_module_that_is_not_installed_is_seen_as_such():
    assert _installed("nbgrader.apps") and _installed("torch.optim")
    assert not _installed("nbgrader.no_such_app") and not _installed("no_such_package_xyz")


def _package(site: Path, name: str, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = site / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_touched_names_the_top_level_packages_imported_from_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    for name, file in {"_wb_a": site / "pkg_a" / "sub" / "m.py", "_wb_top": site / "top.py",
                       "_wb_out": tmp_path / "elsewhere" / "x.py"}.items():
        module = types.ModuleType(name)
        module.__file__ = str(file)
        monkeypatch.setitem(sys.modules, name, module)
    assert warm_bytecode.touched(site) == {"pkg_a"}


def test_small_packages_and_top_level_modules_are_compiled_whole_big_ones_not(tmp_path):
    site = tmp_path / "site"
    _package(site, "small", {"__init__.py": "", "lazy/deep.py": "X = 1\n"})
    _package(site, "big", {"__init__.py": "", "huge.py": "Y = 2\n" * 100})
    _package(site, "untouched", {"__init__.py": ""})
    (site / "finder.py").write_text("Z = 3\n", encoding="utf-8")
    whole, ok = warm_bytecode.compile_whole(site, {"small", "big"}, below=200)
    assert (whole, ok) == (["small"], True)
    compiled = {p.relative_to(site).parts[0] for p in site.rglob("*.pyc")}
    assert compiled == {"small", "__pycache__"}
    assert len(list((site / "small").rglob("*.pyc"))) == 2 and list((site / "__pycache__").glob("finder.*.pyc"))
