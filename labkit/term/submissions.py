"""Building submissions from an assignment's release notebook: solutions filled in, variants.

Used by the demo (a handful of plausible students) and by the kit's own tests.
"""
from __future__ import annotations

import json
from pathlib import Path

from labkit.core.cells import nbgrader_meta


def source_notebook(root: Path, assignment_id: str) -> Path:
    """nbgrader's layout: source/<id>/<id>.ipynb."""
    return Path(root) / "source" / assignment_id / f"{assignment_id}.ipynb"


def release_notebook(root: Path, assignment_id: str) -> Path:
    """nbgrader's layout: release/<id>/<id>.ipynb (made by ``nbgrader generate_assignment``)."""
    return Path(root) / "release" / assignment_id / f"{assignment_id}.ipynb"


def solution_sources(source: Path) -> dict[str, str]:
    """grade_id -> source of every solution code cell of an instructor's notebook."""
    nb = json.loads(Path(source).read_text(encoding="utf-8"))
    return {nbgrader_meta(c)["grade_id"]: _text(c["source"]) for c in nb["cells"]
            if nbgrader_meta(c).get("solution") and c["cell_type"] == "code"}


def build_submission(dest: Path, replacements: dict[str, str] | None = None, *, filled: bool = True,
                     release: Path, source: Path) -> Path:
    """The release notebook with the source's solutions filled in (or not), then ``replacements``."""
    nb = json.loads(Path(release).read_text(encoding="utf-8"))
    sources = solution_sources(source) if filled else {}
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
