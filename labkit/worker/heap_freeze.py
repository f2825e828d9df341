"""Imported last by the graders' forkserver: the preloaded heap is moved out of the collector's reach.

After torch, scikit-learn, hypothesis and pytest are imported, a full ``gc.collect()`` walks
about a million objects that never become garbage. Every grader forked from the server would
pay that walk on each collection (hypothesis's ``register_random`` collects on purpose; the
allocations of student code and of the checks trigger the rest), and each walk also dirties
the shared pages, which copy-on-write then copies into the child. ``gc.freeze()`` is CPython's answer for a pre-fork server.
"""
import gc

gc.collect()
gc.freeze()
