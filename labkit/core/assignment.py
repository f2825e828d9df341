"""An assignment, as the engine sees it: read from the assignment's own files, never from labkit.

A course root holds, per assignment ``<id>``:

* ``source/<id>/<id>.ipynb``: the instructor's notebook. Its nbgrader metadata is the one
  place for parts and points: every autograder-tests cell (``grade`` without ``solution``)
  is a part, named by its ``grade_id`` minus a ``_tests`` suffix, worth its ``points``;
  every manually graded cell is a manual item.
* ``grader_tests/<id>/assignment.toml``: the description (language, seed, where the
  checks, the reference, the worker-side helpers and the report's blocks are, and the
  assignment's own numbers). ``grader_tests/`` is never released, so neither is this.

A description may name a ``base`` assignment: it then inherits everything the base
declares (paths stay relative to the base's folder) and overrides what it sets itself.
This is how a translated twin of an assignment reuses its checks and reference without copying them.
"""
from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from labkit.core.cells import nbgrader_meta
from labkit.core.lanes import parse_lanes
from labkit.core.settings import LANGUAGES, Limits, SettingsError, limits_for

DESCRIPTION = "assignment.toml"
TESTS_SUFFIX = "_tests"
ENV = "LABKIT_ASSIGNMENT"          # the assignment a grader child grades
ROOT_ENV = "LABKIT_COURSE_ROOT"    # its course root

# Keys of ``[assignment]`` that name files, and whether they resolve to a folder.
_PATH_KEYS = {"checks": True, "reference": True, "worker_helpers": False, "report_template": False,
              "report_sections": False, "demo": False}
_KNOWN_KEYS = {"base", "language", "seed", "hypothesis_examples", "reference_cells", "lanes", *_PATH_KEYS}
# The tables a description may have: [assignment], [params.*] (the checks' own numbers, any
# names), [limits] (its CPU budgets, labkit/core/settings.py ASSIGNMENT_LIMITS), [term] (the
# deadline, labkit/term/late.py), [feedback] (what instant feedback shows, labkit/term/feedback_policy.py).
_KNOWN_TABLES = {"assignment", "params", "limits", "term", "feedback"}
# Tables that change no verdict: left out of the grader's fingerprint, so editing them regrades nothing.
_NOT_VERDICT_TABLES = {"term", "feedback"}


class AssignmentError(ValueError):
    """The assignment is unknown, or its description or notebook is inconsistent."""


class Params(Mapping[str, Any]):
    """A read-only table of the description, with attribute access (``params.tol.exact``)."""

    def __init__(self, data: Mapping[str, Any], name: str = "params"):
        self._data = MappingProxyType({k: _freeze(v, f"{name}.{k}") for k, v in data.items()})
        self._name = name

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"{self._name} has no {key!r} (add it to {DESCRIPTION})") from None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Params({dict(self._data)!r})"


def _freeze(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return Params(value, name)
    if isinstance(value, list):
        return tuple(_freeze(v, name) for v in value)
    return value


@dataclass(frozen=True)
class Part:
    """An autograded part: its autograder cell and the points nbgrader gives it."""

    id: str
    cell: str
    points: float


@dataclass(frozen=True)
class ManualItem:
    """A manually graded cell (a written answer) and its points."""

    cell: str
    points: float


@dataclass(frozen=True)
class Assignment:
    """Everything the engine needs to grade one assignment; build with ``load``."""

    id: str
    root: Path                      # the course root
    folder: Path                    # grader_tests/<id>/
    notebook: Path                  # source/<id>/<id>.ipynb
    language: str
    seed: int                       # seeds torch/numpy/random before every call into student code
    hypothesis_examples: int
    checks: Path
    parts: tuple[Part, ...]
    manual: tuple[ManualItem, ...] = ()
    reference: Path | None = None
    reference_cells: tuple[str, ...] = ()
    worker_helpers: Path | None = None
    report_template: Path | None = None
    report_sections: Path | None = None
    demo: Path | None = None
    params: Params = field(default_factory=lambda: Params({}))
    bases: tuple[Path, ...] = ()    # description files, own first
    limits: Params = field(default_factory=lambda: Params({}))   # [limits]: its own CPU budgets
    lanes: tuple[tuple[str, ...], ...] = ()   # parts graded side by side (labkit/core/lanes.py); (): one lane

    def limit_settings(self) -> Limits:
        """The engine's limits with this assignment's budgets, and the host's LABKIT_LIMIT_* on top."""
        return limits_for(self.limits, f"{self.id}: [limits]")

    # -- points --------------------------------------------------------------------
    @property
    def part_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.parts)

    @property
    def points(self) -> dict[str, float]:
        return {p.id: p.points for p in self.parts}

    @property
    def manual_points(self) -> float:
        return sum(m.points for m in self.manual)

    @property
    def max_points(self) -> float:
        return sum(p.points for p in self.parts) + self.manual_points

    def part_of_cell(self, grade_id: str | None) -> str | None:
        """The part an autograder cell (by grade_id) reports, or None."""
        return next((p.id for p in self.parts if p.cell == grade_id), None)

    # -- files -----------------------------------------------------------------------
    def files(self) -> list[Path]:
        """Every file a verdict depends on, for the cache key (sorted, deduplicated)."""
        found: set[Path] = set(self.bases) | {self.notebook}
        for folder in (self.folder, self.checks, self.reference):
            if folder is not None and folder.is_dir():
                found.update(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for path in (self.worker_helpers, self.report_template, self.report_sections, self.demo):
            if path is not None:
                found.add(path)
        return sorted(found)

    def digest(self) -> str:
        digest = hashlib.sha256(self.id.encode())
        for path in self.files():
            digest.update(str(path.relative_to(self.root) if path.is_relative_to(self.root) else path).encode())
            if path in self.bases:   # without [term] and [feedback]: moving a deadline regrades nothing
                digest.update(json.dumps({k: v for k, v in _read(path).items() if k not in _NOT_VERDICT_TABLES},
                                         sort_keys=True, default=str).encode())
            else:
                digest.update(path.read_bytes() if path.exists() else b"<missing>")
        return digest.hexdigest()

    def helper_source(self) -> str:
        """The worker-side helpers, as text: they travel to the worker over its pipe."""
        return self.worker_helpers.read_text(encoding="utf-8") if self.worker_helpers else ""

    def reference_sources(self) -> list[tuple[str, str]]:
        """(name, source) of the reference's files, in the order they run as notebook cells."""
        if self.reference is None:
            return []
        return [(name, (self.reference / name).read_text(encoding="utf-8")) for name in self.reference_cells]

    @property
    def checks_package(self) -> str:
        """The checks' dotted package name, as pytest imports them (one name per folder with an
        ``__init__.py``, up from the checks' folder): ``grader_tests.lab06``. Their helper modules
        are imported relative to it (``from .grader import ...``), so two assignments' helpers
        never share a module name."""
        names, folder = [], self.checks
        while (folder / "__init__.py").is_file():
            names.insert(0, folder.name)
            folder = folder.parent
        return ".".join(names)

    def import_paths(self) -> list[str]:
        """sys.path entries for the trusted grader: the folder above the checks' package, and
        the course root (the reference as ``reference.<id>``)."""
        base = self.checks.parents[self.checks_package.count(".")]
        return list(dict.fromkeys([str(base), str(self.root)]))

    def install_reference(self) -> None:
        """Make the reference importable as ``reference.<id>`` (how the checks import it),
        wherever its ``reference`` key puts it; the usual ``reference/<id>/`` of the course
        root needs nothing (the root is on the grader's path)."""
        import importlib.util
        import sys
        import types
        if self.reference is None or self.reference == self.root / "reference" / self.id:
            return
        name = f"reference.{self.id}"
        if name in sys.modules:
            return
        parent = sys.modules.get("reference")
        if parent is None:
            parent = types.ModuleType("reference")
            parent.__path__ = []
            sys.modules["reference"] = parent
        spec = importlib.util.spec_from_file_location(name, self.reference / "__init__.py",
                                                      submodule_search_locations=[str(self.reference)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        setattr(parent, self.id, module)

    def env(self) -> dict[str, str]:
        """What a grader child needs to find this assignment again."""
        return {ENV: self.id, ROOT_ENV: str(self.root)}


# --------------------------------------------------------------------------- loading


def course_root(root: Path | str | None = None) -> Path:
    """The course root: given, else ``LABKIT_COURSE_ROOT``, else the current directory."""
    if root is not None:
        return Path(root).resolve()
    env = os.environ.get(ROOT_ENV)
    return Path(env).resolve() if env else Path.cwd().resolve()


def locate(assignment_id: str, start: Path | str | None = None) -> Path:
    """The course root that describes ``assignment_id``: ``LABKIT_COURSE_ROOT`` if set, else the
    nearest folder at or above ``start`` (default: the current directory) with
    ``grader_tests/<id>/assignment.toml``. nbgrader runs a kernel inside
    ``autograded/<student>/<id>/``, three levels below the course root."""
    if os.environ.get(ROOT_ENV):
        return course_root()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "grader_tests" / assignment_id / DESCRIPTION).is_file():
            return folder
    raise AssignmentError(f"no grader_tests/{assignment_id}/{DESCRIPTION} at or above {here} "
                          f"(set {ROOT_ENV} to the course root)")


def available(root: Path | str | None = None) -> list[str]:
    """Ids of the assignments described under ``<root>/grader_tests/``."""
    base = course_root(root) / "grader_tests"
    return sorted(p.parent.name for p in base.glob(f"*/{DESCRIPTION}")) if base.is_dir() else []


def largest_cell_budget(root: Path | str | None = None) -> float:
    """The largest per-cell CPU budget of the course's assignments ([limits] cell_seconds, else
    the engine's): what a kernel-run mode must allow a cell (nbgrader_config.py, Execute.timeout)."""
    budgets = [Limits().cell_seconds]
    for assignment_id in available(root):
        try:
            budgets.append(load(assignment_id, root).limit_settings().cell_seconds)
        except (AssignmentError, SettingsError):
            continue   # a broken description fails where it is graded, with its own message
    return max(budgets)


def load(assignment_id: str | None = None, root: Path | str | None = None) -> Assignment:
    """The assignment ``assignment_id`` (default: ``LABKIT_ASSIGNMENT``) of the course at ``root``."""
    root = course_root(root)
    assignment_id = assignment_id or os.environ.get(ENV)
    known = available(root)
    if not assignment_id:
        raise AssignmentError(f"no assignment given (set {ENV}); this course has: {', '.join(known) or 'none'}")
    if assignment_id not in known:
        raise AssignmentError(f"unknown assignment {assignment_id!r} in {root}; described are: "
                              f"{', '.join(known) or 'none'} (each needs grader_tests/<id>/{DESCRIPTION})")
    return _cached(assignment_id, str(root), _stamp(root, assignment_id))


def _stamp(root: Path, assignment_id: str) -> str:
    """Changes when a description or the notebook changes, so edits are seen without a restart."""
    paths = [root / "source" / assignment_id / f"{assignment_id}.ipynb", *_chain(root, assignment_id)]
    return json.dumps([(str(p), p.stat().st_mtime_ns if p.exists() else 0) for p in paths])


_CACHE: dict[tuple[str, str, str], Assignment] = {}


def _cached(assignment_id: str, root: str, stamp: str) -> Assignment:
    key = (assignment_id, root, stamp)
    if key not in _CACHE:
        _CACHE[key] = _build(assignment_id, Path(root))
    return _CACHE[key]


def _chain(root: Path, assignment_id: str) -> list[Path]:
    """The description files from ``assignment_id`` down its ``base`` chain."""
    chain: list[Path] = []
    current: str | None = assignment_id
    while current:
        path = root / "grader_tests" / current / DESCRIPTION
        if path in chain:
            raise AssignmentError(f"{assignment_id}: the base chain loops at {current!r}")
        if not path.exists():
            raise AssignmentError(f"{assignment_id}: base assignment {current!r} has no {path}")
        chain.append(path)
        current = _read(path).get("assignment", {}).get("base")
    return chain


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AssignmentError(f"{path}: {exc}") from None


def _merge(low: dict, high: dict) -> dict:
    out = dict(low)
    for key, value in high.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _build(assignment_id: str, root: Path) -> Assignment:
    chain = _chain(root, assignment_id)
    settings: dict[str, Any] = {}
    params: dict[str, Any] = {}
    # Lowest base first, so that each description overrides what it inherits; a path
    # resolves against the folder of the description that set it.
    limits: dict[str, Any] = {}
    for path in reversed(chain):
        data = _read(path)
        tables = set(data) - _KNOWN_TABLES
        if tables:
            raise AssignmentError(f"{path}: unknown table(s) {sorted(tables)}; a description has "
                                  f"{', '.join(f'[{t}]' for t in sorted(_KNOWN_TABLES))}")
        limits.update(data.get("limits", {}))
        own = data.get("assignment", {})
        unknown = set(own) - _KNOWN_KEYS
        if unknown:
            raise AssignmentError(f"{path}: unknown keys in [assignment]: {sorted(unknown)}; "
                                  f"known: {sorted(_KNOWN_KEYS)}")
        for key, value in own.items():
            settings[key] = (path.parent / value).resolve() if key in _PATH_KEYS else value
        params = _merge(params, data.get("params", {}))
    language = settings.get("language", "pl")
    if language not in LANGUAGES:
        raise AssignmentError(f"{chain[0]}: language {language!r}; allowed: {', '.join(LANGUAGES)}")
    notebook = root / "source" / assignment_id / f"{assignment_id}.ipynb"
    parts, manual = parts_from_notebook(notebook)
    checks = settings.get("checks", chain[0].parent)
    for key in _PATH_KEYS:
        if key in settings and not Path(settings[key]).exists():
            raise AssignmentError(f"{assignment_id}: {key} = {settings[key]} does not exist")
    if not (Path(checks) / "__init__.py").is_file():
        raise AssignmentError(f"{assignment_id}: the checks' folder {checks} is not a package (no __init__.py); "
                              "the checks import their helpers relative to it (from .grader import ...), so that "
                              "two assignments' helpers never share a module name (docs/new-assignment.md, step 3)")
    reference = settings.get("reference")
    if reference is not None and not (Path(reference) / "__init__.py").is_file():
        raise AssignmentError(f"{assignment_id}: reference = {reference} is not a package (no __init__.py); "
                              f"the checks import it as reference.{assignment_id}")
    try:
        limits_for(limits, f"{chain[0]}: [limits]")
        lanes = parse_lanes(settings.get("lanes"), tuple(p.id for p in parts), f"{chain[0]}: [assignment]")
    except (SettingsError, ValueError) as exc:
        raise AssignmentError(str(exc)) from None
    return Assignment(
        id=assignment_id, root=root, folder=chain[0].parent, notebook=notebook, language=language,
        seed=int(settings.get("seed", 0)), hypothesis_examples=int(settings.get("hypothesis_examples", 25)),
        checks=Path(checks), parts=parts, manual=manual, reference=settings.get("reference"),
        reference_cells=tuple(settings.get("reference_cells", ())),
        worker_helpers=settings.get("worker_helpers"), report_template=settings.get("report_template"),
        report_sections=settings.get("report_sections"), demo=settings.get("demo"),
        params=Params(params), bases=tuple(chain), limits=Params(limits), lanes=lanes)


def parts_from_notebook(notebook: Path) -> tuple[tuple[Part, ...], tuple[ManualItem, ...]]:
    """Parts (autograder-tests cells) and manual items, with points, from nbgrader metadata."""
    try:
        nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssignmentError(f"cannot read the source notebook {notebook}: {exc}") from None
    parts: list[Part] = []
    manual: list[ManualItem] = []
    for cell in nb.get("cells", []):
        meta = nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        grade_id = str(meta.get("grade_id", ""))
        points = float(meta.get("points", 0.0))
        if cell.get("cell_type") == "code" and not meta.get("solution"):
            if not grade_id.endswith(TESTS_SUFFIX):
                raise AssignmentError(f"{notebook}: autograder cell {grade_id!r} must be named <part>{TESTS_SUFFIX}")
            parts.append(Part(grade_id.removesuffix(TESTS_SUFFIX), grade_id, points))
        else:
            manual.append(ManualItem(grade_id, points))
    ids = [p.id for p in parts]
    if len(set(ids)) != len(ids):
        raise AssignmentError(f"{notebook}: a part has two autograder cells: {ids}")
    if not parts:
        raise AssignmentError(f"{notebook}: no autograder cells (grade: true, solution: false)")
    return tuple(parts), tuple(manual)


# --------------------------------------------------------------------------- the active one

_ACTIVE: Assignment | None = None


def activate(assignment: Assignment | None) -> None:
    """Make ``assignment`` the one this process grades (checks and messages read it)."""
    global _ACTIVE
    _ACTIVE = assignment


def current() -> Assignment:
    """The assignment being graded: the activated one, else ``LABKIT_ASSIGNMENT``."""
    if _ACTIVE is not None:
        return _ACTIVE
    return load()


def active() -> Assignment | None:
    """The activated assignment, if any (no loading, no error)."""
    return _ACTIVE
