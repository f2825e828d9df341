"""The grading service: feedback within a minute of ``nbgrader submit`` (docs/instant-feedback.md).

One long-running process per course watches the exchange's inbound folder and, for each new
submission, goes through nbgrader's own steps for that one student (collect, autograde,
generate_feedback, release_feedback), so ``nbgrader fetch_feedback`` and the Assignments tab
show the feedback. The exchange is the queue and ``journal.py`` remembers what became of each
entry, so a restart after ``kill -9`` loses nothing and releases nothing twice.
"""
