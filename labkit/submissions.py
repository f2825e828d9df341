"""Building submissions from the release notebook: filled-in solutions and variants.

Used by the demo (a handful of plausible students) and by the kit's own tests.
"""
from __future__ import annotations

import json
from pathlib import Path

from labkit.notebook import nbgrader_meta
from labkit.settings import ASSIGNMENT_ID, REPO_ROOT

SOURCE_NOTEBOOK = REPO_ROOT / "source" / ASSIGNMENT_ID / f"{ASSIGNMENT_ID}.ipynb"
RELEASE_NOTEBOOK = REPO_ROOT / "release" / ASSIGNMENT_ID / f"{ASSIGNMENT_ID}.ipynb"


def solution_sources(source: Path = SOURCE_NOTEBOOK) -> dict[str, str]:
    """grade_id -> source of every solution cell of the instructor's notebook."""
    nb = json.loads(Path(source).read_text(encoding="utf-8"))
    return {nbgrader_meta(c)["grade_id"]: _text(c["source"]) for c in nb["cells"]
            if nbgrader_meta(c).get("solution") and c["cell_type"] == "code"}


def build_submission(dest: Path, replacements: dict[str, str] | None = None, *, filled: bool = True,
                     release: Path = RELEASE_NOTEBOOK) -> Path:
    """The release notebook with solutions filled in (or not), then ``replacements`` applied."""
    nb = json.loads(Path(release).read_text(encoding="utf-8"))
    sources = solution_sources() if filled else {}
    sources.update(replacements or {})
    unknown = set(replacements or {}) - {nbgrader_meta(c).get("grade_id") for c in nb["cells"]}
    if unknown:
        raise KeyError(f"no cells with grade_id {sorted(unknown)}")
    for cell in nb["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in sources:
            cell["source"] = sources[grade_id]
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return dest


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)
