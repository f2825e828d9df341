"""The grader's fingerprint covers exactly the code that can change a verdict
(labkit/grading/fingerprint.py): a report-only edit keeps every cached verdict, a grading-code
edit drops them all."""
from __future__ import annotations

import shutil

import pytest

from labkit.grading import fingerprint


@pytest.fixture
def kit_copy(tmp_path, monkeypatch):
    copy = tmp_path / "labkit"
    shutil.copytree(fingerprint.KIT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "KIT", copy)
    fingerprint.engine_digest.cache_clear()
    yield copy
    fingerprint.engine_digest.cache_clear()


def digest() -> str:
    fingerprint.engine_digest.cache_clear()
    return fingerprint.engine_digest()


@pytest.mark.parametrize("path", ["insight/templates/report.css", "insight/report.py", "lms/collect.py",
                                  "term/late.py", "cli/main.py", "runner/parallel.py"])
def test_an_edit_outside_the_verdict_packages_keeps_the_fingerprint(kit_copy, path):
    before = digest()
    (kit_copy / path).write_text((kit_copy / path).read_text(encoding="utf-8") + "\n/* edited */\n"
                                 if path.endswith(".css") else
                                 (kit_copy / path).read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert digest() == before


@pytest.mark.parametrize("path", ["grading/checks.py", "core/i18n.py", "worker/server.py", "protocol/codec.py",
                                  "sandbox/launch.py"])
def test_an_edit_of_verdict_code_changes_the_fingerprint(kit_copy, path):
    before = digest()
    (kit_copy / path).write_text((kit_copy / path).read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert digest() != before


def test_every_engine_file_is_either_verdict_code_or_named_outside_it():
    """A new package must be placed on purpose: inside the fingerprint or outside it."""
    outside = {"cli", "insight", "lms", "nbgrader_ext", "runner", "service", "term"}
    packages = {p.name for p in fingerprint.KIT.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages == set(fingerprint.VERDICT_PACKAGES) | outside
