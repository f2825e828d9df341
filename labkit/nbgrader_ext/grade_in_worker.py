"""nbgrader preprocessors of the kit: grade in a sandboxed worker instead of a kernel.

``GradeInWorker`` replaces nbgrader's ``Execute`` in ``Autograde.autograde_preprocessors``
(see nbgrader_config.py). It grades the sanitized notebook with the hidden tests, then
writes into the notebook what a kernel run would have left there:

- each code cell gets the outputs the worker captured when it ran the cell;
- each part's autograder cell gets a readable report, the partial score as an
  ``execute_result`` (nbgrader's partial-credit convention) and an ``error`` only when
  the part earned nothing.

The hidden sections of the autograder cells are never run and stay as markers, so
feedback cannot show hidden test code. ``SaveAutoGrades`` then reads the scores as usual.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Int, Unicode

from labkit.core import assignment as assignments
from labkit.term import overrides
from labkit.core.assignment import Assignment
from labkit.runner.cache import ResultCache, submission_key
from labkit.grading.grade import grade_notebook
from labkit.core.i18n import tr
from labkit.runner.parallel import grade_many
from labkit.core.cells import is_autograder_tests, nbgrader_meta
from labkit.core.results import CELLS_CUT_SHORT, SubmissionResult, failed_submission

from labkit.nbgrader_ext.course_context import converter_of, course_root, coursedir_of
from labkit.nbgrader_ext.sanitized_copies import sanitized_copies
from labkit.nbgrader_ext.verdict_cells import cell_failure_output, sanitize_outputs, verdict_outputs


class GradeInWorker(NbGraderPreprocessor):
    """Run the notebook once in the sandboxed worker and write verdicts into autograder cells."""

    results_dir = Unicode(
        "", help="Where each submission's SubmissionResult JSON is kept for the TA report "
                 "(<dir>/<assignment>/<student>.json); empty: do not keep them.").tag(config=True)
    cache_dir = Unicode(
        "", help="Content-addressed verdict cache; an unchanged submission under an unchanged "
                 "grader is not graded again. Empty: no cache.").tag(config=True)
    jobs = Int(0, help="Submissions graded at once (one single-threaded grader each); "
                       "0: one per core.").tag(config=True)
    scheduler = Unicode("", help="Dask scheduler address (tcp://HOST:PORT) to grade on a cluster; "
                                 "empty: grade on this machine.").tag(config=True)
    prefetch = Bool(True, help="Grade all of this run's submissions in parallel when the first one "
                               "arrives; nbgrader then only collects verdicts.").tag(config=True)

    def preprocess(self, nb, resources):
        cache = ResultCache(Path(self.cache_dir)) if self.cache_dir else _MEMORY
        info = resources.get("nbgrader", {})
        assignment = self._assignment(info.get("assignment"))
        assignments.activate(assignment)   # verdict texts in the assignment's language
        linked = self._drop_linked_files(info)
        if linked:
            self.log.warning("labkit: %s submitted symlinks, not copied: %s", info.get("student"), linked)
        if self.prefetch:
            self._prefetch(cache)
        unreadable = (nb.metadata.get("labkit") or {}).get("unreadable")
        if unreadable:
            result = failed_submission(str(info.get("student")), tr(
                "Nie da się odczytać pliku notatnika: {r}", "The notebook file cannot be read: {r}",
                r=unreadable), "invalid_notebook", assignment)
        else:
            with tempfile.TemporaryDirectory(prefix="labkit-nb-") as tmp:
                path = Path(tmp) / "submission.ipynb"
                nbformat.write(nb, str(path))
                key = submission_key(path, assignment)
                result = cache.get(key)
                if result is None:
                    result = grade_notebook(path, assignment=assignment)
                    cache.put(key, result)
        # TA decisions go on top of every verdict, cached or fresh: a regrade never undoes them.
        decisions = overrides.for_submission(overrides.load(course_root(self)), assignment.id,
                                             str(info.get("student", "")))
        result = overrides.apply(result, decisions, assignment)
        self._keep(result, info.get("assignment", "assignment"), info.get("student", "student"))
        if "sandbox_fallback" in result.flags:
            self.log.warning("labkit: no bwrap sandbox for student %s (see docs/security.md)", info.get("student"))
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if is_autograder_tests(cell):
                part = assignment.part_of_cell(nbgrader_meta(cell).get("grade_id"))
                cell.outputs = verdict_outputs(result.parts.get(part), result.invalid, result.decisions,
                                               result.diagnoses)
                cell.execution_count = index
            else:
                cell.outputs = [nbformat.from_dict(o) for o in sanitize_outputs(result.cells.get(str(index), []))]
                status = result.cell_status.get(str(index))
                if status in CELLS_CUT_SHORT:
                    cell.outputs.append(nbformat.from_dict(cell_failure_output(status)))
                cell.execution_count = index if status else None
        resources.setdefault("labkit", {})["result"] = result
        return nb, resources

    def _assignment(self, assignment_id: str | None) -> Assignment:
        return assignments.load(str(assignment_id or ""), course_root(self))

    def _drop_linked_files(self, info: dict) -> list[str]:
        """nbgrader copies every extra file of submitted/<student>/<assignment>/ into autograded/
        (and generate_feedback copies them on into feedback/), following symlinks with the
        grader's privileges: a link to grader_tests/test_data.py hands the hidden tests back
        to the student. Remove whatever was copied through a symlink."""
        coursedir = coursedir_of(self)
        if coursedir is None or not info.get("student"):
            return []
        source = Path(coursedir.format_path(coursedir.submitted_directory, info["student"], info["assignment"]))
        dest = Path(coursedir.format_path(coursedir.autograded_directory, info["student"], info["assignment"]))
        dropped = []
        for path in sorted(source.rglob("*")) if source.is_dir() else []:
            if not path.is_symlink():
                continue
            copy = dest / path.relative_to(source)
            if copy.is_dir() and not copy.is_symlink():
                shutil.rmtree(copy, ignore_errors=True)
            elif copy.exists() or copy.is_symlink():
                copy.unlink()
            dropped.append(str(path.relative_to(source)))
        return dropped

    def _prefetch(self, cache) -> None:
        """Grade every submission this autograde run will visit, ``jobs`` at a time, into the cache.

        nbgrader then visits them one by one (it alone writes the gradebook) and finds each
        verdict ready: the prefetch grades each notebook as nbgrader's sanitizing pass will
        leave it (labkit/nbgrader_ext/sanitized_copies.py). A notebook that still differs at
        the visit misses the cache and is graded on the spot, so results never differ from
        the serial path.
        """
        converter = converter_of(self)
        folders = getattr(converter, "assignments", None)   # submitted/<student>/<id>/ -> notebooks
        if not folders or id(converter) in _PREFETCHED:
            return
        _PREFETCHED.add(id(converter))
        by_assignment: dict[str, dict[str, list[Path]]] = {}
        for folder, group in folders.items():
            by_assignment.setdefault(Path(folder).name, {})[folder] = [Path(nb) for nb in group]
        for assignment_id, submitted in sorted(by_assignment.items()):
            if sum(len(group) for group in submitted.values()) < 2:
                continue
            with tempfile.TemporaryDirectory(prefix="labkit-prefetch-") as tmp:
                notebooks = sanitized_copies(converter, submitted, Path(tmp), self.log)
                self.log.info("labkit: grading %d notebooks of %s with %s", len(notebooks), assignment_id,
                              f"scheduler {self.scheduler}" if self.scheduler else f"{self.jobs or 'all'} local jobs")
                grade_many(notebooks, assignment=self._assignment(assignment_id), jobs=self.jobs or None,
                           scheduler=self.scheduler or None, cache=cache)

    def _keep(self, result: SubmissionResult, assignment: str, student: str) -> None:
        if not self.results_dir:
            return
        folder = Path(self.results_dir) / assignment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{student}.json").write_text(result.to_json(), encoding="utf-8")

class _MemoryCache(ResultCache):
    """Verdicts of this process only: lets prefetch work without a cache directory."""

    def __init__(self):
        self.items: dict[str, SubmissionResult] = {}

    def get(self, key):
        return self.items.get(key)

    def put(self, key, result):
        self.items[key] = result


_MEMORY = _MemoryCache()
_PREFETCHED: set[int] = set()
