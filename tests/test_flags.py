"""Every flag the engine raises is registered with what it tells a TA (labkit/core/flags.py for
gradings, labkit/term/handin.py for hand-ins): a typo in a flag's name fails here, not as an
"unknown flag" on a TA's report."""
from __future__ import annotations

import re

from labkit.core.flags import FLAGS, info
from labkit.core.settings import REPO_ROOT
from labkit.term.handin import FLAGS as HANDIN_FLAGS

RAISED = re.compile(r"""(?:flags\.(?:append|add)\(|\bh\.flags\s*=\s*\[|flags=\[)\s*["']([a-z_]+)["']""")
TESTED = re.compile(r"""["']([a-z_]+)["']\s+(?:not\s+)?in\s+[\w.]*flags\b""")


def _named_in_code() -> set[str]:
    names: set[str] = set()
    for path in (REPO_ROOT / "labkit").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names |= set(RAISED.findall(text)) | set(TESTED.findall(text))
    return names


def test_every_flag_the_engine_names_is_registered():
    named = _named_in_code()
    assert len(named) > 20, named                        # the pattern still finds them
    unknown = named - set(FLAGS) - set(HANDIN_FLAGS)
    assert not unknown, f"flags raised or tested but not registered: {sorted(unknown)}"


def test_a_registered_flag_says_what_it_means():
    assert all(f.help and f.help != "unknown flag" for f in FLAGS.values())
    assert all(text for text in HANDIN_FLAGS.values())
    assert info("no_such_flag").help == "unknown flag"    # data from an older run is shown, never dropped
