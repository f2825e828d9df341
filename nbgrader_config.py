"""nbgrader configuration of the course (the repository root is the course root).

Every assignment described under grader_tests/<id>/assignment.toml (lab06, lab06_en, ...)
is graded by the same configuration: nothing here names one.
"""
import os
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(_ROOT))

# Tiny models train several times faster on one thread; every kernel nbgrader starts inherits this.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

c = get_config()  # noqa: F821  (injected by traitlets)
c.CourseDirectory.course_id = "sieci-neuronowe"
c.CourseDirectory.root = str(_ROOT)
# nbgrader 0.9 has no CourseDirectory.db_assignments: `generate_assignment` enters each
# assignment in the gradebook, and LatePenalties (below) writes its deadline there.

# Stock kernel execution (nbgrader validate, or autograde without the kit) has wall time only:
# each cell gets the largest cell budget the course's assignments state ([limits] cell_seconds,
# 90 s by default), with a third more for a busy host.
from labkit.core.assignment import largest_cell_budget  # noqa: E402

c.Execute.timeout = int(-(-largest_cell_budget(_ROOT) * 4 // 3))
c.Execute.startup_timeout = 60

# Solution stubs in each assignment's language ("TUTAJ WPISZ SWÓJ KOD" / "YOUR CODE HERE").
from nbgrader.converters import GenerateAssignment  # noqa: E402
from nbgrader.preprocessors import ClearSolutions  # noqa: E402

from labkit.nbgrader_ext.hide_hidden_tests import HideHiddenTests  # noqa: E402
from labkit.nbgrader_ext.clear_solutions import LocalizedClearSolutions  # noqa: E402

c.GenerateAssignment.preprocessors = [LocalizedClearSolutions if p is ClearSolutions else p
                                      for p in GenerateAssignment.class_traits()["preprocessors"].default()]
# Feedback shows students the verdicts and the public tests, never the hidden sections'
# code (nbgrader issue #917).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from labkit.nbgrader_ext.feedback_page import TEMPLATE_DIRS, FeedbackPage  # noqa: E402
from labkit.nbgrader_ext.feedback_summary import FeedbackSummary  # noqa: E402

# The page starts with the parts and their verdicts, each linked to its cell; a written answer
# nobody graded yet says it awaits a TA (labkit/nbgrader_ext/feedback_summary.py).
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, FeedbackSummary, CSSHTMLHeaderPreprocessor]
c.GenerateFeedback.exporter_class = FeedbackPage
c.FeedbackPage.template_name = "labkit_feedback"
c.FeedbackPage.template_file = "page.html.j2"
c.FeedbackPage.extra_template_basedirs = TEMPLATE_DIRS

# Autograde without a kernel: the kit's GradeInWorker takes the place of nbgrader's Execute,
# running student code once in a sandboxed worker and the hidden tests in a trusted process.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades,
)

from labkit.nbgrader_ext.late_penalties import LatePenalties  # noqa: E402
from labkit.nbgrader_ext.grade_in_worker import GradeInWorker  # noqa: E402

c.Autograde.autograde_preprocessors = [
    GradeInWorker,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    LatePenalties,   # nbgrader's AssignLatePenalties, after writing the deadline and extension into the gradebook
    CheckCellMetadata,
]
# Late work (labkit/term/late.py): nbgrader measures lateness from the exchange's timestamp.txt against
# `[term] due` of grader_tests/<id>/assignment.toml, moved per student by extensions.toml; the
# penalty is a share of the notebook's points per started day, capped (nbgrader keeps it at most
# the score). Change the policy here, e.g. per_day = 0.0 to record lateness without a penalty.
c.PerDayPenalty.per_day = 0.10
c.PerDayPenalty.cap = 0.50
c.GradeInWorker.results_dir = str(_ROOT / "reports" / "results")
# Unreadable submissions become an empty notebook graded zero (with the reason), not an
# aborted student and exit code 1; missing/duplicated grade cells do not crash OverwriteCells.
from nbgrader.preprocessors import ClearOutput, DeduplicateIds, OverwriteKernelspec  # noqa: E402

from labkit.nbgrader_ext.overwrite_cells import SafeOverwriteCells  # noqa: E402
from labkit.nbgrader_ext.tolerant_exporter import TolerantNotebookExporter  # noqa: E402

c.Autograde.exporter_class = TolerantNotebookExporter
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, SafeOverwriteCells, CheckCellMetadata,
]
# A student who deletes a graded cell gets it back (scored from the verdicts), not a hole.
c.OverwriteCells.add_missing_cells = True
# Parallel, cached grading inside `nbgrader autograde`: one single-threaded grader per core
# (override with --GradeInWorker.jobs=N), or a Dask cluster with --GradeInWorker.scheduler=tcp://HOST:PORT.
c.GradeInWorker.cache_dir = str(_ROOT / ".labkit-cache")
c.GradeInWorker.jobs = 0

# ---- LMS hand-in: Moodle and Canvas downloads (docs/lms.md) --------------------------------
# `nbgrader zip_collect <id> --force` unpacks downloaded/<id>/archive/*.zip (entry times kept,
# students' own zips too) and maps every file to its student through the LMS's naming and
# downloaded/<id>/roster.csv (`labkit lms-roster`); the plan goes to reports/<id>_handin.json.
from labkit.lms.collect import LmsCollector, LmsExtractor  # noqa: E402

c.ZipCollectApp.extractor_plugin = LmsExtractor
c.ZipCollectApp.collector_plugin = LmsCollector
# Files that are not graded travel to submitted/<student>/<id>/kept/; --strict would drop the
# kept notebooks (their names are not the release's), so it stays off.
c.ZipCollectApp.strict = False
c.LmsSettings.lms = "auto"                # or "moodle" / "canvas"
# Zip entries carry the LMS server's local time (docs/lms.md, "Submission times"): Moodle the
# file's upload time, Canvas the time it built the zip (UTC on Instructure's hosting).
c.LmsSettings.moodle_zip_timezone = "Europe/Warsaw"
c.LmsSettings.canvas_zip_timezone = "UTC"
# A Moodle draft (worksheet Status "Wersja robocza" / "Draft (not submitted)") is no hand-in:
# flagged and left; True grades it (still flagged).
c.LmsSettings.grade_drafts = False
# ---- end of the LMS block -------------------------------------------------------------------
