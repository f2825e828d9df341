"""labkit/service/journal.py and inbound.py: the queue the grading service keeps on the exchange."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from labkit.service.inbound import InboundEntry, parse_name, scan
from labkit.service.journal import HOLD_AFTER_CRASHES, Journal, State
from labkit.service.status import status_of


def entry(student: str, minute: int, assignment: str = "mini") -> InboundEntry:
    stamp = f"2026-12-08 10:{minute:02d}:00.000000 UTC"
    name = f"{student}+{assignment}+{stamp}+r{minute}"
    return InboundEntry(name, student, assignment, stamp, Path("/nonexistent") / name)


@pytest.fixture
def journal(tmp_path) -> Journal:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def test_a_student_who_submits_in_a_loop_waits_behind_everyone_else(journal):
    flood = [entry("spammer", m) for m in range(20)]
    journal.add(flood[:1], now=0)
    first = journal.claim(now=1)
    journal.finish(first.name, State.RELEASED, now=2)
    journal.add(flood[1:], now=3)                                     # 19 more, at once
    journal.add([entry("ala", 30), entry("bartek", 31)], now=4)       # two students after the flood
    order = []
    while (claim := journal.claim(now=10 + len(order))) is not None:
        order.append(claim.student)
        journal.finish(claim.name, State.RELEASED, now=10 + len(order))
        if claim.student == "spammer":
            assert len(claim.superseded) == 18                        # only the newest is graded
    assert order == ["ala", "bartek", "spammer"]


def test_only_the_newest_waiting_entry_of_a_student_is_graded(journal):
    journal.add([entry("ala", 1), entry("ala", 3), entry("ala", 2)])
    claim = journal.claim()
    assert claim.name == entry("ala", 3).name and set(claim.superseded) == {entry("ala", 1).name, entry("ala", 2).name}
    states = {r["name"]: r["state"] for r in journal.rows()}
    assert sorted(states.values()) == ["grading", "superseded", "superseded"]


def test_a_student_being_graded_waits_with_a_newer_entry_while_others_go_ahead(journal):
    journal.add([entry("ala", 1)], now=0)
    first = journal.claim(now=1)                       # on a grading lane
    journal.add([entry("ala", 2), entry("bartek", 3)], now=2)
    assert journal.claim(now=3).student == "bartek"    # ala's newer entry would be collected over her first
    assert journal.claim(now=4) is None
    journal.finish(first.name, State.RELEASED, now=5)
    assert journal.claim(now=6).name == entry("ala", 2).name


def test_an_entry_is_recorded_once_however_often_it_is_seen(journal):
    assert journal.add([entry("ala", 1)]) == 1
    assert journal.add([entry("ala", 1), entry("ala", 2)]) == 1
    assert len(journal.rows()) == 2


def test_an_entry_the_service_died_on_is_retried_once_then_held_for_a_ta(tmp_path):
    path = tmp_path / "journal.sqlite"
    j = Journal(path)
    j.add([entry("ala", 1)])
    j.claim()
    j.close()                                    # the service dies during the grading
    j = Journal(path)
    assert j.recover() == [(entry("ala", 1).name, State.QUEUED)]
    assert j.claim().name == entry("ala", 1).name
    j.close()                                    # and dies again on the same entry
    j = Journal(path)
    assert j.recover() == [(entry("ala", 1).name, State.HELD)] and HOLD_AFTER_CRASHES == 2
    assert j.claim() is None
    assert "twice" in j.rows()[0]["note"]
    j.close()


def test_graded_attempts_are_counted_per_day(journal):
    for minute, when in ((1, 100.0), (2, 200.0), (3, 300.0)):
        journal.add([entry("ala", minute)], now=when)
        claim = journal.claim(now=when)
        journal.finish(claim.name, State.RELEASED, attempt=minute, now=when + 1)
    assert journal.attempts("ala", "mini", since=150.0) == 2
    assert journal.graded_attempts("ala", "mini") == 3 and journal.attempts("bartek", "mini", since=0) == 0


def test_status_shows_the_queue_in_the_order_it_is_served_with_an_expected_wait(journal):
    journal.add([entry("ala", 1)], now=0)
    claim = journal.claim(now=1)
    journal.finish(claim.name, State.RELEASED, attempt=1, now=31)          # 30 s a grading
    journal.add([entry("ala", 2), entry("bartek", 3), entry("celina", 4)], now=40)
    status = status_of(journal.rows(), now=50)
    assert [q["student"] for q in status.queue] == ["bartek", "celina", "ala"]
    assert status.seconds_per_grading == 30
    text = "\n".join(status.lines())
    assert "#3, expected wait ~90 s" in text and "queued: 3" in text


def test_nbgraders_names_are_read_as_collect_reads_them(tmp_path):
    good = parse_name("ala+mini+2026-12-08 10:00:00.000000 UTC+AbC", tmp_path)
    assert (good.student, good.assignment, good.timestamp) == ("ala", "mini", "2026-12-08 10:00:00.000000 UTC")
    assert parse_name("ala+mini+2026-12-08 10:00:00.000000 UTC", tmp_path).student == "ala"
    for odd in ("..", "ala+mini", "ala+mini+not a time+x", "+mini+2026-12-08 10:00:00 UTC+x"):
        assert parse_name(odd, tmp_path) is None, odd


def test_scan_refuses_links_files_and_odd_names_and_waits_for_timestamp_txt(tmp_path):
    inbound = tmp_path / "inbound"
    inbound.mkdir()
    done = inbound / "ala+mini+2026-12-08 10:00:00.000000 UTC+a"
    done.mkdir()
    (done / "timestamp.txt").write_text("2026-12-08 10:00:00.000000 UTC")
    (inbound / "bartek+mini+2026-12-08 10:01:00.000000 UTC+b").mkdir()          # still being copied
    (tmp_path / "gradebook.db").write_text("secret")
    os.symlink(tmp_path, inbound / "celina+mini+2026-12-08 10:02:00.000000 UTC+c")   # a link to the course
    (inbound / "dawid+mini+2026-12-08 10:03:00.000000 UTC+d").write_text("a file")
    (inbound / "ewa+mini+yesterday+e").mkdir()
    linked = inbound / "filip+mini+2026-12-08 10:04:00.000000 UTC+f"
    linked.mkdir()
    os.symlink(tmp_path / "gradebook.db", linked / "timestamp.txt")
    entries, refused = scan(inbound, {"mini"}, check_owner=False)
    assert [e.student for e in entries] == ["ala"]
    assert sorted(name.split("+")[0] for name, _ in refused) == ["celina", "dawid", "ewa", "filip"]


def test_scan_refuses_a_huge_entry_or_thousands_of_files_without_reading_them(tmp_path):
    from labkit.service import inbound as inbound_module
    inbound = tmp_path / "inbound"
    big = inbound / "ala+mini+2026-12-08 10:00:00.000000 UTC+a"
    many = inbound / "bartek+mini+2026-12-08 10:01:00.000000 UTC+b"
    for entry in (big, many):
        entry.mkdir(parents=True)
        (entry / "timestamp.txt").write_text("2026-12-08 10:00:00.000000 UTC")
    with open(big / "mini.ipynb", "wb") as fh:          # sparse: no disk spent, the size is what counts
        fh.truncate(inbound_module.MAX_ENTRY_BYTES + 1)
    for i in range(inbound_module.MAX_ENTRY_FILES + 1):
        (many / f"f{i}.txt").touch()
    entries, refused = scan(inbound, {"mini"}, check_owner=False)
    assert entries == []
    assert sorted(refused) == [(big.name, "more than 50 MiB"), (many.name, "more than 500 files")]


def test_an_entry_written_by_another_unix_user_under_a_students_name_is_refused(tmp_path):
    """nbgrader's collect only warns ("cheating attempt?") and collects it as the named student's."""
    import pwd
    me = pwd.getpwuid(os.getuid()).pw_name
    inbound = tmp_path / "inbound"
    for student in (me, "someone-else"):
        folder = inbound / f"{student}+mini+2026-12-08 10:00:00.000000 UTC+a"
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text("2026-12-08 10:00:00.000000 UTC")
    entries, refused = scan(inbound, {"mini"})
    assert [e.student for e in entries] == [me]
    assert refused == [("someone-else+mini+2026-12-08 10:00:00.000000 UTC+a", f"written by {me}, not by someone-else")]
    (inbound / ".labkit-refused-x+mini+2026-12-08 10:00:00.000000 UTC+a").mkdir()   # moved aside: not an entry
    assert len(scan(inbound, {"mini"})[0]) == 1
