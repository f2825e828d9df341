"""A generated class for calibrating and testing labkit/insight/similarity.py ("who copied from whom").

``generate_class(dest, n_students=40)`` writes a class of nbgrader submissions of lab06:

- **independent** students: the release filled with one style per answer cell from
  ``STYLES`` (structurally different correct ways to write that cell: names, comments and
  strings do not make a style, copydetect normalizes them away). The style vectors are the
  lines of the affine plane over GF(7): student (a, b) uses style (a + b*x) mod 7 in design
  cell x = 0..6 and style b in cell 7. Two distinct lines meet in at most one point, so two
  independent students share a style in at most one cell, by construction
  (``check_design`` asserts it). Each also picks their own BEST_CONFIG numbers; the
  one-line cells (optimizer, dataset_loss) are the instructor's;
- **reference** students: the instructor's solution verbatim;
- **planted copies**: pairs and clusters of three, each copy made from another student's
  notebook by ``disguise``: local variables and helpers renamed consistently (never a
  contract name), comments removed/added, blank lines and spacing changed, string literals
  (print messages, docstrings) changed, independent function definitions reordered inside a
  cell, a helper moved to a new cell; one copy also rewrote one cell in another style.

Everything is derived from ``seed``: the same arguments give the same notebooks.
Above 49 independent students (the bench's 200) the extra ones get random style vectors,
which no longer satisfy the design; only the class of 40 is used for calibration.
"""
from __future__ import annotations

import ast
import builtins
import io
import itertools
import json
import random
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import answer_styles
from labkit.term.submissions import solution_sources

# --------------------------------------------------------------------------- styles
# STYLES[grade_id][i]: whole-cell source of style i of that answer cell, the first Q of the cell's
# styles in tests/answer_styles/ (structurally different correct ways to write the cell; none is
# the instructor's solution). The one-line cells (optimizer, dataset_loss) are the instructor's.
Q = 7                                 # the field GF(7): 49 lines, 7 styles per cell
DESIGN_CELLS = ("data_solution", "loader_solution", "model_solution", "loss_solution", "training_solution",
                "experiments_solution", "experiments_solution_grid", "experiments_solution_results")
STYLES: dict[str, list[str]] = {cell: list(answer_styles.BY_CELL[cell].values())[:Q] for cell in DESIGN_CELLS}


# --------------------------------------------------------------------------- paths
REPO_ROOT = Path(__file__).resolve().parents[1]
RELEASE = REPO_ROOT / "release" / "lab06" / "lab06.ipynb"
SOURCE = REPO_ROOT / "source" / "lab06" / "lab06.ipynb"
_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

# Names of the assignment's contract: never renamed by a copier (the grader calls them).
CONTRACT = frozenset({
    "make_rings", "make_loader", "Klasyfikator", "predict", "evaluate", "dataset_loss",
    "make_optimizer", "train", "run_experiment", "LAB_CONFIG", "EXPERIMENT_GRID", "RESULTS",
    "BEST_CONFIG", "forward", "self",
})


def reference_cells() -> dict[str, str]:
    """grade_id -> the instructor's solution cell, BEGIN/END SOLUTION lines removed."""
    return {gid: "".join(line for line in src.splitlines(keepends=True) if line.strip() not in _MARKERS)
            for gid, src in solution_sources(SOURCE).items()}


# --------------------------------------------------------------------------- the design
def design_line(a: int, b: int) -> tuple[int, ...]:
    """Style index per design cell of line (a, b): a + b*x at x = 0..6, then b at infinity."""
    return tuple((a + b * x) % Q for x in range(Q)) + (b,)


def shared_styles(u: tuple[int | None, ...], v: tuple[int | None, ...]) -> int:
    """Cells where two style vectors use the same non-reference style (None = reference)."""
    return sum(1 for s, t in zip(u, v) if s is not None and s == t)


def style_vector(line: tuple[int, ...]) -> tuple[int | None, ...]:
    """Indices past a cell's style list mean "the instructor's code" (None)."""
    return tuple(i if i < len(STYLES[cell]) else None for i, cell in zip(line, DESIGN_CELLS))


def check_design(vectors: list[tuple[int | None, ...]]) -> None:
    for u, v in itertools.combinations(vectors, 2):
        assert shared_styles(u, v) <= 1, (u, v)


def best_config(i: int) -> str:
    """Student i's own BEST_CONFIG numbers (every student tunes their own)."""
    hidden = (12 + 2 * i,) if i % 2 else (10 + i, 4 + i % 7)
    activation = ("tanh", "relu", "leaky_relu")[i % 3]
    lr = round(0.004 + 0.0013 * i, 4)
    return (answer_styles.given_code("experiments_solution_best") + f"# moje ustawienia nr {i}\n"
            f'BEST_CONFIG = {{"n": 5000, "sd": 0.2, "hidden": {hidden!r}, "activation": "{activation}",\n'
            f'               "lr": {lr}, "n_epochs": {6 + i % 9}, "batch_size": {(16, 24, 32, 48, 64)[i % 5]}}}\n')


# --------------------------------------------------------------------------- students
@dataclass
class Student:
    name: str
    kind: str                                   # "independent", "reference" or "copy"
    cells: dict[str, str]                       # solution grade_id -> source
    added: list[str] = field(default_factory=list)   # added code cells, before the first answer
    styles: tuple[int | None, ...] = ()         # independent: style per design cell
    copy_of: str | None = None
    notes: list[str] = field(default_factory=list)   # what the copier changed


@dataclass
class GeneratedClass:
    students: dict[str, Student]
    notebooks: dict[str, Path]
    groups: list[list[str]]                     # planted copy groups (sorted names)
    release: Path = RELEASE
    reference: Path = SOURCE

    @property
    def planted_pairs(self) -> set[tuple[str, str]]:
        return {(a, b) for g in self.groups for a, b in itertools.combinations(sorted(g), 2)}

    def of_kind(self, kind: str) -> list[str]:
        return sorted(n for n, s in self.students.items() if s.kind == kind)


def independent_cells(styles: tuple[int | None, ...], i: int) -> dict[str, str]:
    cells = reference_cells()
    for cell, index in zip(DESIGN_CELLS, styles):
        if index is not None:
            cells[cell] = STYLES[cell][index]
    cells["experiments_solution_best"] = best_config(i)
    return cells


def write_notebook(dest: Path, cells: dict[str, str], added: list[str] = ()) -> Path:
    """The release notebook with its solution cells replaced and added cells inserted."""
    nb = json.loads(RELEASE.read_text(encoding="utf-8"))
    first = None
    for index, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell["cell_type"] == "code" and meta.get("solution") and gid in cells:
            first = index if first is None else first
            cell["source"] = cells[gid]
            cell["outputs"], cell["execution_count"] = [], None
    for source in reversed(list(added)):
        nb["cells"].insert(first, {"cell_type": "code", "execution_count": None, "metadata": {},
                                   "outputs": [], "source": source})
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return dest


def generate_class(dest: Path, n_students: int = 40, seed: int = 0) -> GeneratedClass:
    """Write a class of n_students notebooks to dest/<name>.ipynb (see the module docstring)."""
    rng = random.Random(seed)
    n_pairs, n_clusters = max(4, n_students // 10), max(1, n_students // 40)
    n_reference = max(3, n_students // 15)
    n_independent = n_students - n_pairs - 2 * n_clusters - n_reference
    # Lines of the plane, those with the fewest instructor's cells first (the loader has only
    # 4 styles, so 3 of 7 loader indices are the instructor's loader).
    lines = sorted(((a, b) for a in range(Q) for b in range(Q)),
                   key=lambda ab: (style_vector(design_line(*ab)).count(None), ab[1], ab[0]))
    vectors = [style_vector(design_line(a, b)) for a, b in lines[:n_independent]]
    check_design(vectors)
    while len(vectors) < n_independent:   # bench sizes only: random, no design guarantee
        vectors.append(tuple(rng.randrange(len(STYLES[c])) for c in DESIGN_CELLS))

    specs: list[Student] = [Student("", "independent", independent_cells(v, i), styles=v)
                            for i, v in enumerate(vectors)]
    specs += [Student("", "reference", reference_cells()) for _ in range(n_reference)]
    sources = rng.sample(range(n_independent), n_pairs + n_clusters)
    chains: list[list[Student]] = []
    for k, src in enumerate(sources):
        chain = [specs[src]]
        for _ in range(1 if k < n_pairs else 2):      # a cluster of three: A -> B -> C
            copy = disguise(chain[-1], rng)
            if k == 0:                                # one copier also wrote a cell themselves
                _rewrite_one_cell(copy, chain[-1], rng)
            chain.append(copy)
        chains.append(chain)
        specs += chain[1:]
    order = list(range(len(specs)))
    rng.shuffle(order)                                # copies do not sit next to their source
    for number, index in enumerate(order, start=1):
        specs[index].name = f"s{number:03d}" if n_students >= 100 else f"s{number:02d}"
    for chain in chains:
        for source, copy in zip(chain, chain[1:]):
            copy.copy_of = source.name
    groups = sorted(sorted(s.name for s in chain) for chain in chains)
    students = {s.name: s for s in specs}
    dest = Path(dest)
    notebooks = {s.name: write_notebook(dest / f"{s.name}.ipynb", s.cells, s.added) for s in specs}
    return GeneratedClass(students, dict(sorted(notebooks.items())), groups)


def _rewrite_one_cell(copy: Student, source: Student, rng: random.Random) -> None:
    """The copier wrote one answer themselves, in another style than the source's."""
    cell = rng.choice([c for c in DESIGN_CELLS if c != "loader_solution"])
    own = source.styles[DESIGN_CELLS.index(cell)]
    choice = rng.choice([i for i in range(len(STYLES[cell])) if i != own])
    copy.cells[cell] = STYLES[cell][choice]
    styles = list(copy.styles)
    styles[DESIGN_CELLS.index(cell)] = choice
    copy.styles = tuple(styles)
    copy.notes.append(f"rewrote {cell} in style {choice}")


# --------------------------------------------------------------------------- the copier
_WORDS = ("wart", "tmp", "pom", "rzecz", "elem", "item", "val", "obj", "buf", "aux", "dane", "res")
_COMMENTS = ("# TODO sprawdzić", "# działa", "# krok pomocniczy", "# na podstawie wykładu",
             "# poprawione", "# ważne!", "# nie ruszać")
_DOCSTRINGS = ("Funkcja pomocnicza.", "Pomocnik.", "Zwraca wynik.", "Liczy to, co trzeba.")


def _chunks(source: str) -> tuple[list[ast.stmt], list[str]]:
    """Top-level statements and their source chunks (leading blank/comment lines included)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    chunks, prev = [], 0
    for node in tree.body:
        chunks.append("".join(lines[prev:node.end_lineno]))
        prev = node.end_lineno
    if chunks:
        chunks[-1] += "".join(lines[prev:])
    return tree.body, [c if c.endswith("\n") else c + "\n" for c in chunks]


def _is_def(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.ClassDef))


def reorder_definitions(source: str) -> str:
    """Reverse every run of two or more consecutive top-level def/class statements."""
    nodes, chunks = _chunks(source)
    out, i = [], 0
    while i < len(nodes):
        j = i
        while j < len(nodes) and _is_def(nodes[j]):
            j += 1
        if j - i >= 2:
            run = [c.strip("\n") + "\n" for c in chunks[i:j]]
            out.append("\n\n".join(reversed(run)) if i == 0 else "\n\n" + "\n\n".join(reversed(run)))
            i = j
        else:
            out.append(chunks[i])
            i += 1
    return "".join(out)


def _helpers(source: str) -> list[str]:
    nodes, _ = _chunks(source)
    return [n.name for n in nodes if isinstance(n, ast.FunctionDef) and n.name not in CONTRACT]


def move_helper(source: str, name: str) -> tuple[str, str]:
    """(source without the top-level function `name`, that function's code)."""
    nodes, chunks = _chunks(source)
    i = next(k for k, n in enumerate(nodes) if isinstance(n, ast.FunctionDef) and n.name == name)
    return "".join(chunks[:i] + chunks[i + 1:]), chunks[i].strip("\n") + "\n"


def _names(sources: list[str]) -> tuple[set[str], set[str]]:
    """(renameable local names, protected names) over a whole notebook."""
    names, protected = set(), set(CONTRACT)
    for source in sources:
        tree = ast.parse(source)
        methods = {id(f) for c in ast.walk(tree) if isinstance(c, ast.ClassDef)
                   for f in c.body if isinstance(f, ast.FunctionDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
                args = node.args
                arg_names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
                arg_names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
                contract = isinstance(node, ast.FunctionDef) and (node.name in CONTRACT or id(node) in methods)
                if contract:
                    # The contract's signatures (and methods called as attributes) stay as they are.
                    protected |= arg_names | {node.name}
                else:
                    names |= arg_names | ({node.name} if isinstance(node, ast.FunctionDef) else set())
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                protected |= {a.asname or a.name.split(".")[0] for a in node.names}
    return names - protected - set(dir(builtins)), protected


def _rename_map(names: set[str], taken: set[str], rng: random.Random) -> dict[str, str]:
    mapping, used = {}, set(taken) | names
    for name in sorted(names):
        while True:
            new = ("_" if name.startswith("_") else "") + f"{rng.choice(_WORDS)}{rng.randrange(100)}"
            if new not in used:
                break
        used.add(new)
        mapping[name] = new
    return mapping


def _quote_end(text: str) -> int:
    """Index just past a string token's prefix and opening quotes."""
    i = 0
    while text[i] not in "'\"":
        i += 1
    return i + (3 if text[i:i + 3] in ('"""', "'''") else 1)


def rewrite_tokens(source: str, mapping: dict[str, str], rng: random.Random) -> str:
    """Rename, re-comment, re-space and re-word one cell, keeping it valid Python."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def off(pos: tuple[int, int]) -> int:
        return starts[pos[0] - 1] + pos[1]

    skip = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
    toks = list(tokenize.generate_tokens(io.StringIO(source).readline))
    significant = [t for t in toks if t.type not in skip]
    nxt = {id(a): b for a, b in zip(significant, significant[1:])}
    edits: list[tuple[int, int, str]] = []
    stack: list[str] = []
    prev = prev2 = None
    for tok in toks:
        kind, text = tok.type, tok.string
        if kind == tokenize.COMMENT:
            edits.append((off(tok.start), off(tok.end), ""))
            continue
        if kind in skip:
            continue
        following = nxt.get(id(tok))
        if kind == tokenize.OP and text in "([{":
            role = "other"
            if text == "(" and prev is not None and prev.type == tokenize.NAME:
                role = ("print" if prev.string == "print" else
                        "def" if prev2 is not None and prev2.string == "def" else "call")
            stack.append(role)
        elif kind == tokenize.OP and text in ")]}":
            stack.pop()
        elif kind == tokenize.NAME and text in mapping:
            attribute = prev is not None and prev.string == "."
            keyword = (stack and stack[-1] in ("call", "print") and following is not None
                       and following.string == "=" and prev is not None and prev.string in "(,")
            if not attribute and not keyword:
                edits.append((off(tok.start), off(tok.end), mapping[text]))
        elif kind == tokenize.STRING:
            new = text
            if re.match(r"(?i)[rb]*f", text):
                new = re.sub(r"\{[^{}]*\}", lambda m: re.sub(
                    r"(?<![\w.!])(\w+)", lambda n: mapping.get(n.group(1), n.group(1)), m.group(0)), new)
            statement = prev is None or prev.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
            if statement and following is not None and following.type == tokenize.NEWLINE:
                new = f'"""{rng.choice(_DOCSTRINGS)}"""'          # a docstring, reworded
            elif "print" in stack:
                q = _quote_end(new)
                new = new[:q] + ">> " + new[q:]                   # a message, reworded
            if new != text:
                edits.append((off(tok.start), off(tok.end), new))
        elif kind == tokenize.OP and text == "=" and not stack and prev is not None and following is not None \
                and prev.end[0] == tok.start[0] == following.start[0] and rng.random() < 0.4:
            edits.append((off(prev.end), off(tok.start), ""))      # x=1 instead of x = 1
            edits.append((off(tok.end), off(following.start), ""))
        elif kind == tokenize.NEWLINE:
            if rng.random() < 0.2:
                edits.append((off(tok.start), off(tok.start), "  " + rng.choice(_COMMENTS)))
            if rng.random() < 0.15 and not stack:
                edits.append((off(tok.end), off(tok.end), "\n"))  # an extra blank line
        prev2, prev = prev, tok
    out = source
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:start] + new + out[end:]
    out = "\n".join(line.rstrip() for line in out.splitlines()) + "\n"
    return f"{rng.choice(_COMMENTS)}\n{out}"


def disguise(source: Student, rng: random.Random) -> Student:
    """A copy of `source`'s notebook, made to look different (see the module docstring)."""
    cells, added, notes = dict(source.cells), list(source.added), []
    for gid, code in cells.items():
        reordered = reorder_definitions(code)
        if reordered != code:
            cells[gid] = reordered
            notes.append(f"reordered definitions in {gid}")
    helpers = [(gid, name) for gid in DESIGN_CELLS for name in _helpers(cells[gid])]
    if helpers:
        gid, name = rng.choice(helpers)
        cells[gid], code = move_helper(cells[gid], name)
        added.append(code)
        notes.append(f"moved helper {name} from {gid} to an added cell")
    # Only the student's own cells are disguised; the one-line cells they share with the
    # instructor stay as they are (they carry no fingerprint anyway).
    own = [g for g in cells if g in DESIGN_CELLS or g == "experiments_solution_best"]
    names, protected = _names([cells[g] for g in cells] + added)
    mapping = _rename_map(names, protected, rng)
    for gid in own:
        cells[gid] = rewrite_tokens(cells[gid], mapping, rng)
    added = [rewrite_tokens(code, mapping, rng) for code in added]
    for code in list(cells.values()) + added:
        ast.parse(code)   # a copier hands in code that still runs
    notes.append(f"renamed {len(mapping)} names, rewrote comments, strings and spacing")
    return Student("", "copy", cells, added, styles=source.styles, notes=notes)


def style_students(dest: Path) -> dict[str, tuple[str, int, Path]]:
    """One notebook per (design cell, style): the instructor's code everywhere else."""
    out = {}
    for cell, styles in STYLES.items():
        for index, code in enumerate(styles):
            name = f"{cell}.{index}"
            out[name] = (cell, index, write_notebook(Path(dest) / f"{name}.ipynb", {**reference_cells(), cell: code}))
    return out
