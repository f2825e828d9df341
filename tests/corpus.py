"""A corpus of small fixture submissions that proves the hidden grader.

Issue: "Every correct style scores full marks; each mistake loses points in its own
part and nowhere else". Each case is the source notebook with a few solution cells
replaced by code written the way students write it (the correct styles, and the styles the
mistakes are made from, are in tests/answer_styles/):

- correct cases (``loses=None``) use another valid style and must score full marks in
  every part;
- mistake cases (``loses="<part>"``) contain one realistic mistake and must score
  strictly less than the maximum in that part and full marks in every other part.

Every case also swaps two cells for cheap student choices, to keep each grading short:
the RESULTS grid (still 8 factors x 3 values, small n and few epochs) and BEST_CONFIG
(a 2-32-1 tanh net, 4 epochs: well inside the budget, ~0.2 s per training instead of ~0.9 s,
held-out accuracy >= 0.98 on every seed tried). Both are the student's choice; the grader
must give them full marks. A case that replaces one of these cells itself keeps its own.
Two locked demonstration cells are shortened (``CHEAP_DEMO``): the one after BEST_CONFIG
(LAB_CONFIG on 8 seeds and BEST_CONFIG on 3, about 20 s of the notebook's 25 s on one thread)
to one seed each, and the demonstration of the student's train() to one epoch instead of 4.
Neither is graded, and ``cheapen_source`` does the same to a test course's source notebook, so
that nbgrader's restoring of locked cells keeps them short too. One
full-size path (tests/test_roundtrip.py's demo class) keeps the lab's own cell.

``build(case_name, dest_dir)`` writes ``dest_dir/<case>.ipynb``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from answer_styles import data, evaluation, experiments, loader, loss, model, training, variant

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE = REPO_ROOT / "source" / "lab06" / "lab06.ipynb"
GRID_CELL = "experiments_solution_grid"
BEST_CELL = "experiments_solution_best"


@dataclass(frozen=True)
class Case:
    name: str
    cells: dict[str, str]            # solution grade_id -> replacement cell source
    loses: str | None = None         # None: full marks everywhere; else the one part that loses
    note: str = ""
    cheap: bool = True               # also replace the grid and BEST_CONFIG with CHEAP_CELLS

    @property
    def expected(self) -> dict:
        return {"all_full": True} if self.loses is None else {"loses": self.loses}


# --------------------------------------------------------------------------- the grid
# The cheap grid and BEST_CONFIG: styles the student may choose, short to run.
CHEAP_CELLS = {GRID_CELL: experiments.GRID_CHEAP, BEST_CELL: experiments.BEST_CHEAP}

DEMO_CELL = "demo_best"
CHEAP_DEMO_BEST = '''\
import contextlib
import io

# Skrócona demonstracja (testy zestawu): po jednym ziarnie zamiast 8 i 3.
with contextlib.redirect_stdout(io.StringIO()):
    _lab = run_experiment({**LAB_CONFIG, "n": 400, "n_epochs": 1}, seed=0)["test_accuracy"]
    _best = run_experiment({**BEST_CONFIG, "n": 400, "n_epochs": 1}, seed=1)["test_accuracy"]
print(f"LAB_CONFIG: {_lab:.3f}, BEST_CONFIG: {_best:.3f} (n=400, 1 epoka)")
'''
# The notebook's demonstration of its own train() (4 epochs of 5000 points, ~1.7 CPU s, paid
# again when the RESULTS check replays the notebook's cells): one epoch here. Never graded.
TRAINING_DEMO_CELL = "demo_training"
CHEAP_DEMO_TRAINING = '''\
torch.manual_seed(0)
straty = train(clf, train_loader, loss_fn, optimizer, n_epochs=1)   # testy zestawu: 1 epoka zamiast 4
'''
CHEAP_DEMO = {DEMO_CELL: CHEAP_DEMO_BEST, TRAINING_DEMO_CELL: CHEAP_DEMO_TRAINING}


def cheapen_source(notebook: Path, *, solutions: bool = False) -> None:
    """Shorten the locked demonstration cells of a test course's source notebook in place; with
    ``solutions``, its grid and BEST_CONFIG solutions become the corpus's cheap ones too."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    wanted = {**CHEAP_DEMO, **(CHEAP_CELLS if solutions else {})}
    for grade_id, cheap in wanted.items():
        hits = [c for c in nb["cells"] if _grade_id(c) == grade_id]
        if len(hits) != 1:
            raise KeyError(f"{notebook}: expected one {grade_id} cell, found {len(hits)}")
        if grade_id in CHEAP_DEMO:
            hits[0]["source"] = cheap
        else:   # keep the solution region, so generate_assignment makes the same release
            hits[0]["source"] = f"### BEGIN SOLUTION\n{cheap}### END SOLUTION\n"
    Path(notebook).write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def fewer_examples(course: Path, assignment_id: str, examples: int) -> None:
    """Give a test course's copy of an assignment ``examples`` hypothesis examples per property.

    For batches that test the machinery around the verdicts (the hostile batch's containment,
    the English twin's round trip), not the verdicts themselves: the checks, their seeds and
    tolerances stay as they are, only each property draws fewer examples. The corpus and
    lab06 in the demo keep the real count. A description that inherits the count from its
    base gets its own line.
    """
    toml = Path(course) / "grader_tests" / assignment_id / "assignment.toml"
    text = toml.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith("hypothesis_examples")]
    header = "[assignment]\n"
    if len(lines) > 1 or (not lines and text.count(header) != 1):
        raise KeyError(f"{toml}: expected one hypothesis_examples line or one {header.strip()} table")
    line = f"hypothesis_examples = {int(examples)}"
    text = text.replace(lines[0], line) if lines else text.replace(header, f"{header}{line}\n")
    toml.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- mistakes
# The styles the mistakes are made from (tests/answer_styles/), by their corpus names.
RINGS = data.DEFAULT_RNG
LOADER = loader.TENSOR_DTYPE
MODEL_SEQUENTIAL = model.SEQUENTIAL
TRAIN = training.SUM_OVER_LEN
DATASET_LOSS = loss.ITEM

FABRICATED_RESULTS = '''\
# Wyniki przepisane z poprzedniego uruchomienia (przegląd trwał za długo).
_dokladnosci = [0.71, 0.98, 0.99, 0.97, 0.98, 0.99, 0.99, 0.99, 0.98, 0.62, 0.98, 0.99,
                0.93, 0.98, 0.99, 0.99, 0.98, 0.91, 0.95, 0.98, 0.99, 0.99, 0.97, 0.88]
RESULTS = [{"factor": czynnik, "config": config, "seed": 0, "test_accuracy": acc}
           for (czynnik, config), acc in zip(EXPERIMENT_GRID, _dokladnosci)]
'''

UNDERTRAINED_BEST = '''\
# Ustawienia z laboratorium, tylko krócej i ostrożniej.
BEST_CONFIG = {"n": 5000, "sd": 0.2, "hidden": (4, 2), "activation": "relu",
               "lr": 0.001, "n_epochs": 1, "batch_size": 32}
'''


def _cases() -> list[Case]:
    return [
        # ------------------------------------------------------------ correct styles
        Case("correct_sequential", {"model_solution": MODEL_SEQUENTIAL}),
        Case("correct_modulelist", {"model_solution": model.MODULE_LIST}),
        Case("correct_named_layers", {"model_solution": model.NAMED_LAYERS}),
        Case("correct_numpy_legacy_random", {"data_solution": data.LEGACY}),
        Case("correct_torch_random", {"data_solution": data.TORCH_GENERATOR}),
        Case("correct_zero_grad_at_end", {"training_solution": training.ZERO_GRAD_AT_END}),
        Case("correct_flatten_loss", {"training_solution": training.FLATTEN_LOSS}),
        Case("correct_int_labels_predict_bool", {"loss_solution": evaluation.SKLEARN_BOOL}),
        # float32 and numpy/torch scalars wherever the contract has a float or a number
        Case("correct_float32_rings_torch", {"data_solution": data.TORCH_FLOAT32},
             note="torch.Generator, float32 arrays: sd=0 radii are exact to float32 only"),
        Case("correct_float32_rings_numpy", {"data_solution": data.NUMPY_FLOAT32}),
        Case("correct_float32_points_float64_rings", {"data_solution": data.FLOAT32_POINTS},
             note="float64 X whose positions were computed in float32"),
        Case("correct_float32_scalars", {"loss_solution": evaluation.TORCH_ACCURACY,
                                         "training_solution": training.TENSOR_HISTORY},
             note="accuracy from a float32 mean; train returns 0-d float32 tensors"),
        Case("correct_numpy_sweep", {GRID_CELL: experiments.GRID_NUMPY, "experiments_solution_results": experiments.RESULTS_NUMPY,
                                     BEST_CELL: experiments.BEST_NUMPY},
             note="np.int64/np.float64 in RESULTS and BEST_CONFIG; a helper from the grid cell; a generator grid"),
        # ------------------------------------------------------------ mistakes: training
        Case("no_zero_grad", {"training_solution": variant(TRAIN, "            optimizer.zero_grad()\n", "")},
             loses="training"),
        Case("no_step", {"training_solution": variant(TRAIN, "            optimizer.step()\n", "")},
             loses="training"),
        Case("squeeze_loss_shapes", {"training_solution": variant(
            TRAIN, "loss_fn(proba, y_batch.view(-1, 1))", "loss_fn(proba.squeeze(), y_batch)")},
             loses="training", note="breaks only on a batch of one sample"),
        Case("last_batch_loss", {"training_solution": variant(
            TRAIN, "straty.append(suma / len(loader))", "straty.append(loss.item())")},
             loses="training"),
        # ------------------------------------------------------------ mistakes: loss
        Case("sum_instead_of_mean", {"loss_solution_dataset_loss": variant(
            DATASET_LOSS, "strata = loss_fn(p, y.reshape(-1, 1))",
            'strata = nn.BCELoss(reduction="sum")(p, y.reshape(-1, 1))')},
             loses="loss"),
        # ------------------------------------------------------------ mistakes: model
        Case("missing_sigmoid", {"model_solution": variant(
            MODEL_SEQUENTIAL, "        warstwy.append(nn.Sigmoid())\n", "")},
             loses="model", note="BCELoss raises in the notebook's own training, so RESULTS is never built"),
        Case("seed_30_10_default", {"model_solution": variant(
            MODEL_SEQUENTIAL, "hidden=(4, 2)", "hidden=(30, 10)")},
             loses="model"),
        # ------------------------------------------------------------ mistakes: data
        Case("swapped_labels", {"data_solution": variant(
            RINGS, "np.concatenate([np.zeros(n1), np.ones(n2)])", "np.concatenate([np.ones(n1), np.zeros(n2)])")},
             loses="data"),
        Case("no_noise", {"data_solution": variant(
            RINGS, "X = np.vstack([wew, zew]) + rng.normal(0, sd, size=(n, 2))", "X = np.vstack([wew, zew])")},
             loses="data"),
        Case("variance_as_sd", {"data_solution": variant(
            RINGS, "rng.normal(0, sd, size=(n, 2))", "rng.normal(0, sd ** 2, size=(n, 2))")},
             loses="data"),
        Case("half_circle", {"data_solution": RINGS.replace("2 * np.pi", "np.pi")},
             loses="data"),
        # ------------------------------------------------------------ mistakes: loader
        Case("float64_batches", {"loader_solution": LOADER.replace(", dtype=torch.float32", "")},
             loses="loader", note="the notebook's own training then fails on float64 inputs"),
        Case("no_shuffling", {"loader_solution": variant(
            LOADER, "batch_size=batch_size, shuffle=shuffle", "batch_size=batch_size")},
             loses="loader"),
        # ------------------------------------------------------------ mistakes: experiments
        Case("fabricated_results", {"experiments_solution_results": FABRICATED_RESULTS},
             loses="experiments"),
        Case("undertrained_best_config", {"experiments_solution_best": UNDERTRAINED_BEST},
             loses="experiments"),
    ]


CASES: dict[str, Case] = {case.name: case for case in _cases()}
CORRECT = tuple(name for name, case in CASES.items() if case.loses is None)
MISTAKES = tuple(name for name, case in CASES.items() if case.loses is not None)


def parts_of(case: Case) -> frozenset[str]:
    """The lab's parts whose solution cells the case replaces (grade ids ``<part>_solution...``)."""
    return frozenset(grade_id.split("_solution")[0] for grade_id in case.cells)


def correct_groups(names: tuple[str, ...] = CORRECT) -> dict[str, tuple[str, ...]]:
    """The correct styles packed into few notebooks, no two styles of a notebook replacing the
    same part: where such a notebook loses points, the part names the one style written there.
    Styles with more parts are placed first; ties keep the corpus's order."""
    groups: list[list[str]] = []
    for name in sorted(names, key=lambda n: -len(parts_of(CASES[n]))):
        free = [g for g in groups if not any(parts_of(CASES[name]) & parts_of(CASES[other]) for other in g)]
        if free:
            free[0].append(name)
        else:
            groups.append([name])
    return {f"correct_styles_{i}": tuple(group) for i, group in enumerate(groups, 1)}


def merged(group: str, styles: tuple[str, ...]) -> Case:
    """One submission with every style's cells (their parts are disjoint)."""
    cells: dict[str, str] = {}
    for style in styles:
        if set(cells) & set(CASES[style].cells):
            raise ValueError(f"{group}: {style} replaces a cell another style of the group replaces")
        cells.update(CASES[style].cells)
    return Case(group, cells, note=", ".join(styles))


def _grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def build(case: str | Case, dest_dir: Path | str) -> Path:
    """Write the case's submission notebook (a corpus case by name, or a Case such as
    ``merged``'s) to dest_dir/<name>.ipynb and return its path."""
    case = case if isinstance(case, Case) else CASES[case]
    case_name = case.name
    nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    replacements = dict(case.cells)
    if case.cheap:
        for gid, source in {**CHEAP_CELLS, **CHEAP_DEMO}.items():
            replacements.setdefault(gid, source)
    found = set()
    for cell in nb["cells"]:
        gid = _grade_id(cell)
        if gid in replacements:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not (cell["cell_type"] == "code" and (meta.get("solution") or gid in CHEAP_DEMO)):
                raise ValueError(f"{case_name}: {gid} is not a solution code cell")
            cell["source"] = replacements[gid]
            cell["outputs"] = []
            cell["execution_count"] = None
            found.add(gid)
    missing = set(replacements) - found
    if missing:
        raise KeyError(f"{case_name}: no solution cells {sorted(missing)} in {SOURCE.name}")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{case_name}.ipynb"
    path.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def build_all(dest_dir: Path | str) -> dict[str, Path]:
    return {name: build(name, dest_dir) for name in CASES}


if __name__ == "__main__":  # python tests/corpus.py DEST: write every case for a look in Jupyter
    import sys
    for name, path in build_all(sys.argv[1] if len(sys.argv) > 1 else "corpus_out").items():
        print(name, path)
