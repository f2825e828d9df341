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
from nbconvert.exporters import NotebookExporter
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions, NbGraderPreprocessor, OverwriteCells
from traitlets import Bool, Dict, Int, Unicode

from labkit.core import assignment as assignments
from labkit.term import overrides
from labkit.core.assignment import Assignment
from labkit.runner.cache import ResultCache, submission_key
from labkit.grading.grade import grade_notebook
from labkit.core.i18n import language, tr
from labkit.runner.parallel import grade_many
from labkit.core.notebook import is_autograder_tests, nbgrader_meta
from labkit.core.results import PartResult, SubmissionResult, failed_submission

_ALLOWED_MIME = ("text/plain", "image/png")
_MAX_TEXT = 100_000
_MAX_IMAGE = 2_000_000


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
        decisions = overrides.for_submission(overrides.load(self._course_root()), assignment.id,
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
                if status in ("timeout", "overloaded", "crashed", "skipped"):
                    cell.outputs.append(nbformat.from_dict(cell_failure_output(status)))
                cell.execution_count = index if status else None
        resources.setdefault("labkit", {})["result"] = result
        return nb, resources

    def _course_root(self) -> Path:
        """nbgrader's CourseDirectory.root, where the assignments are described."""
        converter = getattr(getattr(self, "parent", None), "parent", None)
        coursedir = getattr(converter, "coursedir", None)
        root = getattr(coursedir, "root", "") if coursedir is not None else ""
        return Path(root) if root else Path.cwd()

    def _assignment(self, assignment_id: str | None) -> Assignment:
        return assignments.load(str(assignment_id or ""), self._course_root())

    def _drop_linked_files(self, info: dict) -> list[str]:
        """nbgrader copies every extra file of submitted/<student>/<assignment>/ into autograded/
        (and generate_feedback copies them on into feedback/), following symlinks with the
        grader's privileges: a link to grader_tests/test_data.py hands the hidden tests back
        to the student. Remove whatever was copied through a symlink."""
        converter = getattr(getattr(self, "parent", None), "parent", None)
        coursedir = getattr(converter, "coursedir", None)
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
        verdict ready. A submission that nbgrader's sanitizing changes (a student edited a
        locked cell) misses the cache and is graded on the spot, so results never differ
        from the serial path.
        """
        converter = getattr(getattr(self, "parent", None), "parent", None)
        folders = getattr(converter, "assignments", None)   # submitted/<student>/<id>/ -> notebooks
        if not folders or id(converter) in _PREFETCHED:
            return
        _PREFETCHED.add(id(converter))
        by_assignment: dict[str, list[Path]] = {}
        for folder, group in folders.items():
            by_assignment.setdefault(Path(folder).name, []).extend(Path(nb) for nb in group)
        for assignment_id, notebooks in sorted(by_assignment.items()):
            if len(notebooks) < 2:
                continue
            self.log.info("labkit: grading %d notebooks of %s with %s", len(notebooks), assignment_id,
                          f"scheduler {self.scheduler}" if self.scheduler else f"{self.jobs or 'all'} local jobs")
            grade_many(sorted(notebooks), assignment=self._assignment(assignment_id), jobs=self.jobs or None,
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


def report_text(part: PartResult, decisions: list[dict] = (), diagnoses: list[dict] = ()) -> str:
    """The part's checks as the student reads them in feedback, with the likely mistake the
    grader recognised and the TA's decisions on it."""
    lines = [tr("Część `{p}`: {s:.2f} / {m:.2f} pkt", "Part `{p}`: {s:.2f} / {m:.2f} points",
                p=part.part, s=part.score, m=part.max_points)]
    for check in part.checks:
        mark = "✔" if check.status == "passed" else ("◐" if check.status == "partial" else "✘")
        lines.append(f"{mark} {check.name}")
        if check.message:
            lines.extend("    " + line for line in check.message.splitlines())
    lines.extend(tr("Diagnoza (nie wpływa na wynik): {m}", "Diagnosis (does not change the score): {m}",
                    m=d.get("message", "")) for d in diagnoses if d.get("part") == part.part)
    lines.extend(decision_text(d) for d in decisions if d.get("part") == part.part)
    return "\n".join(lines) + "\n"


def decision_text(d: dict) -> str:
    """One TA decision as the student reads it: what changed (or not), who decided, why."""
    who = f"{d.get('by', '')}, {d.get('date', '')}".strip(", ")
    if d.get("decision") == overrides.REJECTED:
        return tr("Prośba o ponowną ocenę rozpatrzona bez zmiany wyniku ({w}). Uzasadnienie: {r}",
                  "Regrade request answered without a change ({w}). Reason: {r}", w=who, r=d.get("reason", ""))
    if d.get("check"):
        return tr("Ocena testu {c} zmieniona przez prowadzącego: {g:.2f} → {n:.2f} ({w}). Uzasadnienie: {r}",
                  "A TA changed check {c}: {g:.2f} → {n:.2f} ({w}). Reason: {r}",
                  c=d["check"], g=d.get("graded", 0.0), n=d.get("now", 0.0), w=who, r=d.get("reason", ""))
    return tr("Wynik części zmieniony przez prowadzącego: {g:.2f} → {n:.2f} pkt ({w}). Uzasadnienie: {r}",
              "A TA changed this part's score: {g:.2f} → {n:.2f} points ({w}). Reason: {r}",
              g=d.get("graded", 0.0), n=d.get("now", 0.0), w=who, r=d.get("reason", ""))


def verdict_outputs(part: PartResult | None, invalid: str = "", decisions: list[dict] = (),
                    diagnoses: list[dict] = ()) -> list:
    """Outputs that make nbgrader's determine_grade() read exactly the part's score."""
    if part is None or (not part.checks and not part.override):
        text = tr("Brak wyników dla tej części{r}.", "No results for this part{r}.",
                  r=f": {invalid}" if invalid else "")
        return [nbformat.v4.new_output("error", ename="GradingError", evalue=text, traceback=[text])]
    report = report_text(part, decisions, diagnoses)
    stream = nbformat.v4.new_output("stream", name="stdout", text=report)
    if part.score <= 0:
        summary = tr("Część nie zdobyła punktów", "The part earned no points")
        return [stream, nbformat.v4.new_output("error", ename="AssertionError", evalue=summary,
                                               traceback=[summary])]
    return [stream, nbformat.v4.new_output("execute_result", data={"text/plain": f"{part.score:.4f}"},
                                           execution_count=None)]


def sanitize_outputs(outputs: list) -> list[dict]:
    """Worker outputs are untrusted: keep known types, plain text and PNG only, bounded."""
    clean = []
    for out in outputs if isinstance(outputs, list) else []:
        if not isinstance(out, dict):
            continue
        kind = out.get("output_type")
        if kind == "stream" and out.get("name") in ("stdout", "stderr"):
            clean.append({"output_type": "stream", "name": out["name"], "text": str(out.get("text", ""))[:_MAX_TEXT]})
        elif kind in ("display_data", "execute_result") and isinstance(out.get("data"), dict):
            data = {}
            for mime in _ALLOWED_MIME:
                value = out["data"].get(mime)
                if isinstance(value, str) and len(value) <= (_MAX_IMAGE if mime == "image/png" else _MAX_TEXT):
                    data[mime] = value
            if data:
                entry = {"output_type": kind, "data": data, "metadata": {}}
                if kind == "execute_result":
                    entry["execution_count"] = None
                clean.append(entry)
        elif kind == "error":
            tb = out.get("traceback", [])
            clean.append({"output_type": "error", "ename": str(out.get("ename", "Error"))[:200],
                          "evalue": str(out.get("evalue", ""))[:2000],
                          "traceback": [str(t)[:2000] for t in tb[:20]] if isinstance(tb, list) else []})
    return clean


def cell_failure_output(status: str) -> dict:
    text = {
        "timeout": tr("Komórka przekroczyła limit czasu procesora albo czekała zbyt długo, nic nie licząc, "
                      "i została przerwana (limity: początek notatnika).",
                      "The cell exceeded its CPU-time limit, or waited too long without computing, "
                      "and was stopped (limits: top of the notebook)."),
        "overloaded": tr("Serwer sprawdzarki był przeciążony i nie dał tej komórce dość czasu procesora; "
                         "to nie Twoja wina, praca zostanie oceniona ponownie.",
                         "The grading server was overloaded and gave this cell too little CPU time; "
                         "this is not your fault, the work will be graded again."),
        "crashed": tr("Komórka zakończyła proces z Twoim kodem.", "The cell killed the process running your code."),
        "skipped": tr("Komórkę pominięto, bo wcześniej przerwała działanie.",
                      "The cell was skipped because it broke a previous run."),
    }[status]
    return {"output_type": "error", "ename": "CellAborted", "evalue": text, "traceback": [text]}


class TolerantNotebookExporter(NotebookExporter):
    """Reads a submission nbformat cannot (not JSON, a broken nbformat 3) as an empty notebook.

    Without it nbgrader aborts that student (nothing in autograded/, no feedback) and exits
    1 at the end of the batch. With it the student gets a gradebook entry of zero and
    feedback that says why; GradeInWorker reads the reason from the notebook's metadata.
    """

    def from_file(self, file_stream, resources=None, **kw):
        raw = file_stream.read()
        try:
            nb = nbformat.reads(raw, as_version=4)
        except Exception as exc:  # NotJSONError, ValidationError, errors of the v3->v4 upgrade
            nb = nbformat.v4.new_notebook()
            nb.metadata["labkit"] = {"unreadable": f"{type(exc).__name__}: {str(exc)[:300]}"}
            self.log.warning("labkit: unreadable notebook graded as empty: %s", nb.metadata["labkit"]["unreadable"])
        return self.from_notebook_node(nb, resources=resources, **kw)


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader") or {}
    return meta.get("grade_id")


class SafeOverwriteCells(OverwriteCells):
    """OverwriteCells whose add_missing_cells survives real notebooks.

    nbgrader 0.9.6 raises KeyError (and aborts the student) when a deleted grade cell
    follows a locked cell (here: experiments_tests after demo_best), and when
    DeduplicateIds has emptied the metadata of a duplicated cell. Missing grade cells go
    after the nearest earlier cell of the source notebook that is still present.
    """

    def preprocess(self, nb, resources):
        # DeduplicateIds leaves ``nbgrader: {}`` on the earlier copies of a duplicated cell;
        # CheckCellMetadata then calls it an "old metadata format" and nbgrader aborts the
        # whole batch, not just this student. A cell without metadata is plain student code.
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", None) == {}:
                del cell.metadata["nbgrader"]
        return super().preprocess(nb, resources)

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = source_nb.source_cells
        order = [cell.name for cell in source_cells]
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        for grade_cell in source_nb.grade_cells:
            present = {_grade_id(cell): i for i, cell in enumerate(nb.cells) if _grade_id(cell)}
            if grade_cell.name in present:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", grade_cell.name)
            index = order.index(grade_cell.name)
            cell = self.missing_cell_transform(source_cells[index], grade_cell.max_score,
                                               is_solution=grade_cell.name in solution_ids)
            position = next((present[prev] + 1 for prev in reversed(order[:index]) if prev in present), 0)
            nb.cells.insert(position, cell)
        return nb, resources

    def add_missing_task_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = source_nb.source_cells
        order = [cell.name for cell in source_cells]
        present = {_grade_id(cell) for cell in nb.cells}
        for task_cell in source_nb.task_cells:
            if task_cell.name not in present:
                cell = source_cells[order.index(task_cell.name)]
                nb.cells.append(self.missing_cell_transform(cell, task_cell.max_score, is_task=True))
        return nb, resources


def _assignment_of(preprocessor, resources) -> Assignment | None:
    """The assignment nbgrader is converting, from its resources and CourseDirectory.root."""
    assignment_id = (resources.get("nbgrader") or {}).get("assignment")
    converter = getattr(getattr(preprocessor, "parent", None), "parent", None)
    root = getattr(getattr(converter, "coursedir", None), "root", "") or None
    try:
        return assignments.load(assignment_id, root) if assignment_id else None
    except assignments.AssignmentError:
        return None   # not a kit assignment: nbgrader's own behaviour


class LocalizedClearSolutions(ClearSolutions):
    """nbgrader's ClearSolutions, with the stubs in the assignment's language.

    ``ClearSolutions.code_stub`` and ``text_stub`` are one per course; an English twin of a
    Polish lab needs "YOUR CODE HERE" where the Polish one says "TUTAJ WPISZ SWÓJ KOD".
    """

    stubs = Dict(
        {"pl": {"code": "# TUTAJ WPISZ SWÓJ KOD\nraise NotImplementedError()", "text": "TUTAJ WPISZ SWOJĄ ODPOWIEDŹ"},
         "en": {"code": "# YOUR CODE HERE\nraise NotImplementedError()", "text": "YOUR ANSWER HERE"}},
        help="language -> {'code': stub, 'text': stub}; the language is LABKIT_LANG, else the assignment's.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        assignment = _assignment_of(self, resources)
        if assignment is not None:
            assignments.activate(assignment)
            stub = self.stubs.get(language()) or self.stubs["pl"]
            language_name = nb.metadata.get("kernelspec", {}).get("language", "python")
            self.code_stub = {**self.code_stub, language_name: stub["code"]}
            self.text_stub = stub["text"]
        return super().preprocess(nb, resources)


class HideHiddenTests(ClearHiddenTests):
    """Feedback without the autograder cells' hidden sections (nbgrader issue #917).

    nbgrader's feedback shows autograded notebooks as they are, hidden test code included.
    This strips the ``BEGIN/END HIDDEN TESTS`` region from autograder-test cells only: a
    student who types the markers into their own cell gets their cell back unchanged, and
    feedback generation never fails on it.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if is_autograder_tests(cell):
            try:
                self._remove_hidden_test_region(cell)
            except RuntimeError:   # unbalanced markers: hide the whole source rather than leak it
                cell.source = ""
        return cell, resources
