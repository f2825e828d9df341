"""Tamper watch: which grader-visible library functions student code rebound.

Verdicts never depend on these functions (they are computed in the grader's own process);
a changed one flags the submission for a TA.
"""
from __future__ import annotations

import sys
from typing import Any

# Builtins any contract leans on; an assignment's helpers add its own libraries' functions
# (``TAMPER_WATCH`` in its worker_helpers file). If student code rebinds one of them the
# report flags the submission for a TA (verdicts never depend on them: they are computed
# in the grader's own process).
ENGINE_WATCH = (
    "builtins.print", "builtins.len", "builtins.sum", "builtins.isinstance", "builtins.abs",
    "builtins.round", "builtins.float", "builtins.__import__",
)


def _lookup(dotted: str) -> Any:
    module_name, _, rest = dotted.partition(".")
    obj = sys.modules.get(module_name) or __import__(module_name)
    parts = rest.split(".")
    # walk submodules first (numpy.random, torch.nn.functional, sklearn.metrics)
    prefix = module_name
    for i, part in enumerate(parts):
        prefix = f"{prefix}.{part}"
        try:
            obj = getattr(obj, part)
        except AttributeError:
            __import__(prefix)
            obj = sys.modules[prefix]
    return obj


class TamperWatch:
    """The identities of watched objects at a baseline, compared later."""

    def __init__(self, names: tuple[str, ...] = ()):
        self.baseline = self.snapshot(names) if names else {}

    @staticmethod
    def snapshot(names: tuple[str, ...]) -> dict[str, int]:
        """The identity of each watched object now (a missing optional library is left out)."""
        ids = {}
        for name in names:
            try:
                ids[name] = id(_lookup(name))
            except Exception:  # a missing optional library is not tampering
                continue
        return ids

    def changed(self) -> list[str]:
        """The watched names whose object is no longer the one of the baseline."""
        changed = []
        for name, ident in self.baseline.items():
            try:
                if id(_lookup(name)) != ident:
                    changed.append(name)
            except Exception:
                changed.append(name)
        return changed
