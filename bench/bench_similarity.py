#!/usr/bin/env python
"""Speed and calibration of labkit/insight/similarity.py ("who copied from whom").

    .venv/bin/python bench/bench_similarity.py              # speed: 200 submissions
    .venv/bin/python bench/bench_similarity.py --n 400
    .venv/bin/python bench/bench_similarity.py --calibrate  # the numbers of docs/calibration.md
    .venv/bin/python bench/bench_similarity.py --calibrate --sweep-k 15,20,25,30,40

Speed: generates a class with tests/similarity_class.py (independent students, planted
copies, reference-verbatim students), runs ``compare_class`` once and prints its wall time,
the number of comparisons, the flagged count and whether the planted copies were found.
The budget is 200 submissions in under 60 s on the kit's 2-core VM.

Calibration: on the class of 40 (the design class of the tests), every pair's score (display
floor 0), split into independent pairs, every non-planted pair and planted copies; the
students' matches with the instructor's solution; each cell's styles compared with each
other alone (the instructor's code everywhere else); and the reference score of students
who took the instructor's code in m of the 8 design cells.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import numpy as np  # noqa: E402

import similarity_class as sc  # noqa: E402  (tests/similarity_class.py: the generated class)
from labkit.insight import similarity  # noqa: E402


def speed(n: int, seed: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        klass = sc.generate_class(Path(tmp), n_students=n, seed=seed)
        generated = time.perf_counter() - start
        start = time.perf_counter()
        report = similarity.compare_class(klass.notebooks, release=klass.release, reference=klass.reference)
        wall = time.perf_counter() - start
    n_ok = len(report.students)
    flagged = {(p.a, p.b) for p in report.flagged}
    planted = klass.planted_pairs
    print(f"students: {n} ({len(klass.of_kind('independent'))} independent, {len(klass.of_kind('copy'))} copies "
          f"in {len(klass.groups)} groups, {len(klass.of_kind('reference'))} reference verbatim); "
          f"generated in {generated:.1f} s")
    print(f"compare_class: {wall:.1f} s wall for {n_ok * (n_ok - 1) // 2} student pairs + {n_ok} reference "
          f"comparisons; {len(report.pairs)} pairs above the display floor ({similarity.DISPLAY_FLOOR})")
    print(f"flagged: {len(report.flagged)} pairs (threshold {report.threshold}), planted found "
          f"{len(planted & flagged)}/{len(planted)}, not planted {len(flagged - planted)}; "
          f"clusters of 3+: {len(report.clusters)}; close to the reference: {len(report.reference_close)}")
    extra = flagged - planted
    if extra:
        # Beyond the 49 lines of the design, extra students draw each cell's style at random
        # from 7: some pairs then hand in the same code in most cells, and are rightly flagged.
        shared = [sc.shared_styles(klass.students[a].styles, klass.students[b].styles) for a, b in extra]
        print(f"not planted flagged pairs share the same style in {min(shared)} to {max(shared)} of "
              f"{len(sc.DESIGN_CELLS)} cells (median {int(np.median(shared))})")
    return 0


def _q(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def calibrate(seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        klass = sc.generate_class(Path(tmp) / "class", n_students=40, seed=seed)
        report = similarity.compare_class(klass.notebooks, release=klass.release, reference=klass.reference,
                                          display_floor=0.0)
        styles = sc.style_students(Path(tmp) / "styles")
        style_report = similarity.compare_class({n: v[2] for n, v in styles.items()}, release=klass.release,
                                                reference=klass.reference, display_floor=0.0)
        # Reference curve: design line (1, 1) with the instructor's code in its first m design cells.
        curve_books, vector = {}, sc.style_vector(sc.design_line(1, 1))
        for m in range(len(sc.DESIGN_CELLS) + 1):
            mixed = tuple(None if i < m else v for i, v in enumerate(vector))
            curve_books[f"m{m}"] = sc.write_notebook(Path(tmp) / "curve" / f"m{m}.ipynb",
                                                     sc.independent_cells(mixed, 1))
        curve = similarity.compare_class(curve_books, release=klass.release, reference=klass.reference)

    independent = set(klass.of_kind("independent"))
    planted = klass.planted_pairs
    ind = [p.score for p in report.pairs if p.a in independent and p.b in independent]
    other = [p for p in report.pairs if (p.a, p.b) not in planted]
    copies = sorted(p.score for p in report.pairs if (p.a, p.b) in planted)
    worst = max(other, key=lambda p: p.score)
    print(f"K={similarity.K} WINDOW={similarity.WINDOW} THRESHOLD={similarity.THRESHOLD} "
          f"REFERENCE_THRESHOLD={similarity.REFERENCE_THRESHOLD} MIN_OWN_TOKENS={similarity.MIN_OWN_TOKENS}")
    print(f"independent pairs: n={len(ind)} max={max(ind):.3f} p99={_q(ind, 99):.3f} p95={_q(ind, 95):.3f} "
          f"median={_q(ind, 50):.3f}")
    print(f"all non-planted pairs: n={len(other)} max={worst.score:.3f} ({worst.a} {klass.students[worst.a].kind}, "
          f"{worst.b} {klass.students[worst.b].kind})")
    print(f"planted pairs: n={len(copies)} min={copies[0]:.3f} all={[round(c, 3) for c in copies]}")
    flagged = {(p.a, p.b) for p in report.flagged}
    print(f"margin: planted min - non-planted max = {copies[0] - worst.score:.3f}; "
          f"flagged pairs are exactly the planted ones: {flagged == planted}; clusters: {report.clusters}")
    own = [p.own_a for p in report.pairs if p.a in independent]
    print(f"own tokens of independent students: min={min(own)} median={_q(own, 50):.0f}")
    refs = {k: [report.reference_scores[s] for s in klass.of_kind(k)] for k in ("independent", "copy", "reference")}
    print(f"reference scores: independent max={max(refs['independent']):.3f} p99={_q(refs['independent'], 99):.3f} "
          f"median={_q(refs['independent'], 50):.3f}; copies max={max(refs['copy']):.3f}; "
          f"verbatim min={min(refs['reference']):.3f}")
    print("reference score with the instructor's code in m of 8 design cells: "
          + ", ".join(f"m={m}: {curve.reference_scores[f'm{m}']:.2f}" for m in range(len(sc.DESIGN_CELLS) + 1)))
    print("styles of one cell against each other (instructor's code elsewhere): max score, own tokens")
    for cell in sc.DESIGN_CELLS:
        same = [p for p in style_report.pairs if styles[p.a][0] == cell == styles[p.b][0]]
        best = max(same, key=lambda p: p.score)
        print(f"  {cell:30s} max={best.score:.3f} ({best.a} vs {best.b}) own tokens {best.own_a}/{best.own_b} "
              f"flagged={sum(1 for p in style_report.flagged if p in same)}")


def sweep(ks: list[int], seed: int) -> None:
    """Separation for other k-gram lengths (module constant patched for this process only)."""
    with tempfile.TemporaryDirectory() as tmp:
        klass = sc.generate_class(Path(tmp), n_students=40, seed=seed)
        for k in ks:
            similarity.K = k
            report = similarity.compare_class(klass.notebooks, release=klass.release,
                                              reference=klass.reference, display_floor=0.0)
            other = max(p.score for p in report.pairs if (p.a, p.b) not in klass.planted_pairs)
            copies = min(p.score for p in report.pairs if (p.a, p.b) in klass.planted_pairs)
            ref_ind = max(report.reference_scores[s] for s in klass.of_kind("independent"))
            print(f"K={k:3d}: non-planted max {other:.3f}, planted min {copies:.3f}, margin {copies - other:.3f}; "
                  f"independent reference max {ref_ind:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="submissions in the speed run (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibrate", action="store_true", help="print the calibration numbers instead")
    parser.add_argument("--sweep-k", default="", help="with --calibrate: comma-separated k-gram lengths to compare")
    args = parser.parse_args()
    if args.calibrate:
        calibrate(args.seed)
        if args.sweep_k:
            sweep([int(k) for k in args.sweep_k.split(",")], args.seed)
        return 0
    return speed(args.n, args.seed)


if __name__ == "__main__":
    sys.exit(main())
