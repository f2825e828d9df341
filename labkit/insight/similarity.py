"""Similarity across a class of notebook submissions: who may have copied from whom.

For the course team only. It NEVER changes a grade: it reads submitted notebooks and
writes a table (and a CSV) for a TA to look at; every flag is a prompt for a human to
compare two notebooks side by side, not a verdict.

What is compared is each student's own code: every solution code cell and every code cell
the student added, IPython magics and shell lines removed (``student_code``). Fingerprints
come from ``copydetect`` (tokenized with pygments, names/comments/whitespace/string literals
normalized, k-grams hashed), so renaming, re-commenting, re-spacing, changing strings and
reordering whole functions do not hide a copy. Two sources of shared code are not evidence
of copying and are removed before two students are compared, with copydetect's own
boilerplate mechanism:

- the release's code (docstrings, signatures, stubs): every student starts from it;
- the instructor's solution: two students who both reproduced it did not copy from each
  other. Each student is compared with it separately instead (``reference_scores``), and a
  high match is reported as "close to the instructor's solution".

Pair score: min(score_a, score_b), where score_x is the share of x's own fingerprints
(k-grams of x's filtered code left after both removals) that the other student also has.
The smaller side is used so that a small submission contained in a big one is not enough:
a flag says that most of *both* students' own code is shared. Students with fewer than
``MIN_OWN_TOKENS`` own tokens (an untouched release, the reference verbatim, one short
cell) still get a score but never a flag: a few shared lines out of very few are noise.
Thresholds are calibrated in ``docs/calibration.md`` (section *Similarity*) on the generated
class of ``tests/similarity_class.py``; ``bench/bench_similarity.py --calibrate`` reproduces them.
"""
from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
from copydetect.detector import CodeFingerprint, compare_files
from copydetect.utils import filter_code

from labkit.core.cells import cell_source, nbgrader_meta
from labkit.core.notebook import InvalidNotebook, read_notebook

# --------------------------------------------------------------------------- parameters
# Every value comes from the calibration in docs/calibration.md ("Similarity"): the class of
# 40 of tests/similarity_class.py (31 independent students in distinct styles, 5 planted copy
# groups disguised by renaming/reordering/re-commenting, 3 reference-verbatim students), run
# by `bench/bench_similarity.py --calibrate`.
#
# K: k-gram length in copydetect tokens (characters of the filtered code, where every name is
# one character, so 25 is about 8-10 real tokens). The margin between copies and the rest is
# flat from 15 to 50 (0.46-0.51); a longer k lowers the copies' scores (each edit breaks more
# k-grams), a shorter one raises independent students' matches with the reference. 25 is
# copydetect's own default and mid-plateau.
K = 25
# WINDOW: winnowing window. 1 keeps every k-gram as a fingerprint. copydetect hashes k-grams
# with Python's salted hash(), so with a window > 1 the winnowed selection (and every score)
# would change from one interpreter run to the next; with 1 the scores are a property of the
# code alone (tests/test_similarity.py checks two hash seeds). Fast enough: see the bench.
WINDOW = 1
# A pair at or above THRESHOLD is flagged. Calibration: independent pairs at most 0.33, any
# non-planted pair at most 0.39 (a copy whose source shares one style with a third student),
# planted copies at least 0.87. 0.6 leaves 0.21 above the one and 0.27 below the other.
THRESHOLD = 0.6
# A student whose own code matches the instructor's solution at or above this is "close to
# the instructor's solution". Calibration: independent students at most 0.36, reference
# verbatim 1.0; the instructor's code in 5 of 8 answer cells gives 0.66, in 6 of 8 0.81.
REFERENCE_THRESHOLD = 0.7
# Pairs at or above this appear in SimilarityReport.pairs, with segments for the side-by-side
# view: about the 95th percentile of independent pairs (0.25), so the list stays short.
DISPLAY_FLOOR = 0.25
# Own code after release and reference removal, in copydetect tokens: below this a student
# has too little of their own for a score to mean anything, so they are never flagged.
# One answer cell alone is 85-480 tokens; independent students have 1300-2000 (median 1700).
MIN_OWN_TOKENS = 200

REFERENCE_NAME = "(instructor's solution)"
ADDED_CELL = "added cell"
_MAX_BYTES = 32 * 1024**2
_SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Segment:
    """A run of a student's code, plain text (the report escapes it), matched or not."""

    text: str
    matched: bool


@dataclass(frozen=True)
class Pair:
    """Two students' shared own code. score = min(score_a, score_b)."""

    a: str
    b: str
    score: float
    score_a: float                   # share of a's own fingerprints that b also has
    score_b: float                   # share of b's own fingerprints that a also has
    tokens: int                      # copydetect's overlapping tokens (matched spans of a)
    segments_a: list[Segment] = field(default_factory=list)
    segments_b: list[Segment] = field(default_factory=list)
    own_a: int = 0                   # a's own tokens after release and reference removal
    own_b: int = 0

    @property
    def enough_code(self) -> bool:
        return min(self.own_a, self.own_b) >= MIN_OWN_TOKENS


@dataclass(frozen=True)
class ReferenceMatch:
    """A student's match with the instructor's solution: the share of their own fingerprints
    (release removed) that the solution also has; segments mark the shared code."""

    student: str
    score: float
    tokens: int = 0
    segments: list[Segment] = field(default_factory=list)


@dataclass
class SimilarityReport:
    """Everything a TA's similarity table needs; see ``compare_class``."""

    students: list[str]
    pairs: list[Pair]                            # score >= DISPLAY_FLOOR, best first
    flagged: list[Pair]                          # score >= threshold, enough own code
    highest: dict[str, tuple[str, float]]        # student -> (closest other student, score)
    clusters: list[list[str]]                    # flagged components of 3 or more students
    reference_close: list[ReferenceMatch]        # reference score >= reference_threshold
    reference_scores: dict[str, float]
    threshold: float
    reference_threshold: float
    skipped: dict[str, str] = field(default_factory=dict)   # unreadable notebook -> why


# --------------------------------------------------------------------------- extraction
class UnreadableNotebook(Exception):
    """The file is not a notebook this module can read; the message says why."""


def _load(path: Path) -> dict:
    """The notebook as grading reads it (labkit/core/notebook.py), its problem in English for TAs."""
    try:
        return read_notebook(Path(path), _MAX_BYTES, lang="en")
    except InvalidNotebook as exc:
        raise UnreadableNotebook(str(exc)) from None


def _own_cells(nb: dict) -> list[tuple[str, str]]:
    """(label, source) of the student's own code cells, in notebook order."""
    cells = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = nbgrader_meta(cell)
        if meta:
            # Solution cells only: autograder tests (grade without solution) and locked
            # cells are the instructor's, identical for everyone.
            if not meta.get("solution") or meta.get("locked"):
                continue
            label = str(meta.get("grade_id") or "solution cell")
        else:
            label = ADDED_CELL              # a cell the student inserted
        cells.append((label, cell_source(cell)))
    return cells


def _join(cells: list[tuple[str, str]], drop=lambda line: False) -> str:
    parts = []
    for label, source in cells:
        # Magics and shell escapes are not Python: pygments would tokenize them as errors,
        # and `!pip install` lines shared by half the class say nothing about copying.
        lines = [line for line in source.splitlines()
                 if not line.lstrip().startswith(("%", "!")) and not drop(line)]
        body = "\n".join(lines).rstrip("\n")
        parts.append(f"# ---- {label} ----\n{body}\n")
    return "\n".join(parts)


def student_code(notebook: Path) -> str:
    """The student's own code: solution and added code cells, magics removed, each cell
    preceded by a marker comment line naming its grade_id (or "added cell")."""
    return _join(_own_cells(_load(notebook)))


def reference_code(source: Path) -> str:
    """The instructor's solution: the source notebook's solution cells, BEGIN/END SOLUTION
    marker lines removed (the given code around them is part of the reference too)."""
    return _join(_own_cells(_load(source)), drop=lambda line: line.strip() in _SOLUTION_MARKERS)


# --------------------------------------------------------------------------- comparison
def _fingerprints(name: str, code: str, *boilerplates: np.ndarray | None) -> list[CodeFingerprint]:
    """One copydetect fingerprint of `code` per boilerplate set, tokenizing the code once.

    Tokenizing (pygments) is most of the cost, so the code is filtered once with copydetect's
    own ``filter_code`` and each fingerprint is built from the filtered text (``filter=False``)
    with the raw code and offsets put back: exactly what ``filter=True`` would have produced.
    """
    filtered, offsets = filter_code(code, name, "python")
    fps = []
    for boilerplate in boilerplates:
        fp = CodeFingerprint(name, K, WINDOW, boilerplate=boilerplate, filter=False,
                             language="python", fp=io.StringIO(filtered))
        fp.raw_code, fp.offsets = code, offsets   # so compare_files maps slices into the code
        fps.append(fp)
    return fps


def _fingerprint(name: str, code: str, boilerplate: np.ndarray | None = None) -> CodeFingerprint:
    return _fingerprints(name, code, boilerplate)[0]


def _hashes(fp: CodeFingerprint) -> np.ndarray:
    return np.array(sorted(fp.hashes), dtype=np.int64)


def _own_tokens(fp: CodeFingerprint) -> int:
    return int(fp.token_coverage)


def _segments(code: str, slices) -> list[Segment]:
    """Split code into matched/unmatched runs; the texts concatenate back to code exactly."""
    slices = np.asarray(slices)
    spans = []
    if slices.ndim == 2 and slices.shape[1] > 0:
        for start, end in sorted(zip(slices[0].tolist(), slices[1].tolist())):
            start, end = max(0, int(start)), min(len(code), int(end))
            if end <= start:
                continue
            if spans and start <= spans[-1][1]:
                # copydetect's offset mapping can make neighbouring slices touch or overlap
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
    segments, at = [], 0
    for start, end in spans:
        if start > at:
            segments.append(Segment(code[at:start], False))
        segments.append(Segment(code[start:end], True))
        at = end
    if at < len(code) or not segments:
        segments.append(Segment(code[at:], False))
    return segments


def _containment(fp1: CodeFingerprint, fp2: CodeFingerprint) -> tuple[int, float, float]:
    """(shared fingerprints, share of fp1's fingerprints in fp2, share of fp2's in fp1).

    Counted on copydetect's fingerprint sets (one per k-gram, window 1), not on the
    highlighted token spans: a span also counts the k-1 tokens after its last shared k-gram,
    so every short idiom two students happen to share would weigh at least k tokens.
    """
    if not fp1.hashes or not fp2.hashes:
        return 0, 0.0, 0.0
    shared = len(fp1.hashes & fp2.hashes)
    return shared, shared / len(fp1.hashes), shared / len(fp2.hashes)


def _slices(fp1: CodeFingerprint, fp2: CodeFingerprint):
    """(overlapping tokens, slices in fp1's code, slices in fp2's code) from copydetect."""
    if fp1.hashes.isdisjoint(fp2.hashes):
        return 0, None, None
    tokens, _, (slices1, slices2) = compare_files(fp1, fp2)
    return int(tokens), slices1, slices2


def _components(names: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in edges:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(root(n), []).append(n)
    return sorted(sorted(g) for g in groups.values())


def _read_class(notebooks: Mapping[str, Path], class_boilerplate, release_hashes):
    """Each student's code and fingerprints; a notebook that cannot be read is skipped with why."""
    codes: dict[str, str] = {}
    class_fps: dict[str, CodeFingerprint] = {}
    ref_fps: dict[str, CodeFingerprint] = {}
    skipped: dict[str, str] = {}
    for name in sorted(notebooks):
        try:
            code = student_code(Path(notebooks[name]))
            # Fingerprint once per student and boilerplate set; pairs only intersect hash sets.
            class_fps[name], ref_fps[name] = _fingerprints(name, code, class_boilerplate, release_hashes)
            codes[name] = code
        except UnreadableNotebook as exc:
            skipped[name] = str(exc)
        except Exception as exc:  # one broken notebook must not stop the class's report
            class_fps.pop(name, None)
            ref_fps.pop(name, None)
            skipped[name] = f"{type(exc).__name__}: {exc}"
    return codes, class_fps, ref_fps, skipped


def _against_reference(students: list[str], codes: dict[str, str], ref_fps: dict[str, CodeFingerprint],
                       ref_fp: CodeFingerprint, reference_threshold: float):
    """Each student's containment in the instructor's solution, and who is close to it."""
    reference_scores: dict[str, float] = {}
    reference_close: list[ReferenceMatch] = []
    for name in students:
        _, sim, _ = _containment(ref_fps[name], ref_fp)
        reference_scores[name] = sim
        if sim >= reference_threshold and _own_tokens(ref_fps[name]) >= MIN_OWN_TOKENS:
            tokens, slices, _ = _slices(ref_fps[name], ref_fp)
            reference_close.append(ReferenceMatch(name, sim, tokens, _segments(codes[name], slices)))
    reference_close.sort(key=lambda m: (-m.score, m.student))
    return reference_scores, reference_close


def compare_class(notebooks: Mapping[str, Path], *, release: Path, reference: Path,
                  threshold: float = THRESHOLD,
                  reference_threshold: float = REFERENCE_THRESHOLD,
                  display_floor: float = DISPLAY_FLOOR) -> SimilarityReport:
    """Compare every pair of students and every student with the instructor's solution.

    ``notebooks``: student id -> submitted notebook. ``release``: the student version
    (boilerplate); ``reference``: the instructor's source notebook. A notebook that cannot
    be read lands in ``skipped`` with the reason; it never stops the run.
    ``display_floor``: pairs below it are scored (``highest``) but not listed or segmented.
    A student with fewer than ``MIN_OWN_TOKENS`` own tokens is in no flagged pair and never
    "close to the instructor's solution", whatever their scores.
    """
    release_fp = _fingerprint("release", student_code(Path(release)))
    ref_code = reference_code(Path(reference))
    release_hashes = _hashes(release_fp)
    # Student vs student: release and reference fingerprints are both boilerplate.
    class_boilerplate = np.union1d(release_hashes, _hashes(_fingerprint("reference", ref_code)))
    # Student vs reference: only the release is boilerplate.
    ref_fp = _fingerprint("reference", ref_code, release_hashes)

    codes, class_fps, ref_fps, skipped = _read_class(notebooks, class_boilerplate, release_hashes)
    students = sorted(codes)

    listed = min(display_floor, threshold)     # a flagged pair is always listed too
    pairs: list[Pair] = []
    best: dict[str, tuple[str, float]] = {}
    for a, b in itertools.combinations(students, 2):
        _, sim_a, sim_b = _containment(class_fps[a], class_fps[b])
        score = min(sim_a, sim_b)
        for x, y in ((a, b), (b, a)):
            if x not in best or score > best[x][1]:
                best[x] = (y, score)
        if score < listed:
            continue
        # Segments only for displayed pairs: the rest never reach a TA's screen.
        tokens, slices_a, slices_b = _slices(class_fps[a], class_fps[b])
        pairs.append(Pair(a, b, score, sim_a, sim_b, tokens,
                          _segments(codes[a], slices_a), _segments(codes[b], slices_b),
                          _own_tokens(class_fps[a]), _own_tokens(class_fps[b])))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    flagged = [p for p in pairs if p.score >= threshold and p.enough_code]
    clusters = [c for c in _components(students, [(p.a, p.b) for p in flagged]) if len(c) >= 3]

    reference_scores, reference_close = _against_reference(students, codes, ref_fps, ref_fp, reference_threshold)
    return SimilarityReport(students=students, pairs=pairs, flagged=flagged, highest=best,
                            clusters=clusters, reference_close=reference_close,
                            reference_scores=reference_scores, threshold=threshold,
                            reference_threshold=reference_threshold, skipped=skipped)


def write_csv(report: SimilarityReport, path: Path) -> Path:
    """The instructor's table: flagged pairs, then students close to the instructor's solution."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["kind", "student", "other", "score", "score_student", "score_other", "tokens"])
        for p in report.flagged:
            w.writerow(["pair", p.a, p.b, f"{p.score:.3f}", f"{p.score_a:.3f}", f"{p.score_b:.3f}", p.tokens])
        for m in report.reference_close:
            w.writerow(["reference", m.student, REFERENCE_NAME, f"{m.score:.3f}", f"{m.score:.3f}", "", m.tokens])
    return path
