"""Part `experiments` (6.2): run_experiment, RESULTS, BEST_CONFIG.

The wiring of run_experiment and the provenance of RESULTS are checked with stand-in
components (noise data, a one-layer model, a no-op train), so a mistake in another
part costs nothing here. BEST_CONFIG is trained by the student's own functions; when
that pipeline fails or underperforms, the same config is also trained by the
reference pipeline and the config earns what it is worth there: a broken `train` is
graded in `training`, not twice.
"""
from __future__ import annotations

import ast

import numpy as np
import pytest
import torch

import reference.lab06 as reference
from .grader import passthrough_tolerance, require_callable
from labkit.grading.checks import describe, expect_number, fail, number_eps, number_pair, plain, tr
from labkit.grading.client import Missing, StudentError, WorkerFailure
from labkit.core.assignment import current
from labkit.grading.memo import reference_memo
from labkit.core.settings import load_settings
from reference.lab06.model import n_parameters
from reference.lab06.plots import boundary_grid

pytestmark = pytest.mark.part("experiments")

SETTINGS = current().params
LIMITS = load_settings().limits
SPY_CONFIG = {"n": 321, "sd": 0.17, "hidden": (3,), "activation": "tanh", "lr": 0.02,
              "n_epochs": 3, "batch_size": 16}
SPY_SEED = 5
# Which key of a row's config each factor varies (hidden_size and n_layers both live in hidden).
FACTOR_KEY = {"hidden_size": "hidden", "n_layers": "hidden", "activation": "activation", "lr": "lr",
              "n_epochs": "n_epochs", "batch_size": "batch_size", "n": "n", "sd": "sd"}


def calls_named(calls, name):
    return [args for call_name, args in calls if call_name == name]


@pytest.fixture(scope="module")
def spied(submission):
    """run_experiment(SPY_CONFIG, seed=5) with stand-in components, and the calls it made."""
    require_callable(submission, "run_experiment")
    return submission.op("spy_run_experiment", SPY_CONFIG, SPY_SEED, what="run_experiment")


def test_run_experiment_seeds_torch_and_draws_its_data_from_the_config(spied):
    calls = spied["calls"]
    names = [c[0] for c in calls]
    what = f"run_experiment({SPY_CONFIG}, seed={SPY_SEED})"
    seeds = [i for i, (name, args) in enumerate(calls) if name == "torch.manual_seed" and args["seed"] == SPY_SEED]
    first_model = names.index("Klasyfikator") if "Klasyfikator" in names else len(names)
    if not seeds or seeds[0] > first_model:
        fail("{what}: najpierw należy wywołać torch.manual_seed({s}) (przed utworzeniem modelu).",
             "{what}: torch.manual_seed({s}) should be called first (before the model is built).",
             what=what, s=SPY_SEED)
    rings = calls_named(calls, "make_rings")
    train_call = {"n": SPY_CONFIG["n"], "sd": SPY_CONFIG["sd"], "seed": SPY_SEED}
    test_call = {"n": 2000, "sd": SPY_CONFIG["sd"], "seed": SPY_SEED + 1}
    for expected in (train_call, test_call):
        if not any(all(r.get(k) == v for k, v in expected.items()) for r in rings):
            fail("{what}: oczekiwano wywołania make_rings({exp}); wywołania: {got}.",
                 "{what}: expected a call make_rings({exp}); calls made: {got}.", what=what,
                 exp=", ".join(f"{k}={v}" for k, v in expected.items()),
                 got=[{k: r[k] for k in ("n", "sd", "seed")} for r in rings] or tr("brak", "none"))


def test_run_experiment_trains_the_configs_model_with_its_own_functions(spied):
    calls = spied["calls"]
    what = f"run_experiment({SPY_CONFIG}, seed={SPY_SEED})"
    expected = [
        ("Klasyfikator", {"hidden": SPY_CONFIG["hidden"], "activation": SPY_CONFIG["activation"]}),
        ("make_loader", {"batch_size": SPY_CONFIG["batch_size"]}),
        ("make_optimizer", {"lr": SPY_CONFIG["lr"]}),
        ("train", {"n_epochs": SPY_CONFIG["n_epochs"]}),
    ]
    for name, want in expected:
        made = calls_named(calls, name)
        normalized = [{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()} for args in made]
        if not any(all(args.get(k) == v for k, v in want.items()) for args in normalized):
            fail("{what}: oczekiwano wywołania {name}(..., {exp}); otrzymano {got}.",
                 "{what}: expected a call {name}(..., {exp}); got {got}.", what=what, name=name,
                 exp=", ".join(f"{k}={v!r}" for k, v in want.items()), got=normalized or tr("brak", "none"))
    value = spied["value"]
    if not isinstance(value, dict) or "losses" not in value:
        fail("{what}: oczekiwano słownika z kluczem 'losses', otrzymano {got}.",
             "{what}: expected a dict with the key 'losses', got {got}.", what=what, got=describe(value))
    fake_losses = [0.5 - 0.01 * k for k in range(SPY_CONFIG["n_epochs"])]
    got = plain(value["losses"])   # a list, tuple, array or tensor of the numbers train returned
    if not same_numbers(got, fake_losses, number_eps(value["losses"])):
        fail("{what}: 'losses' powinno być listą zwróconą przez train, otrzymano {got}.",
             "{what}: 'losses' should be the list returned by train, got {got}.", what=what, got=describe(got))


def same_numbers(got, expected: list[float], eps: float) -> bool:
    """got is the list expected, each number within the passthrough tolerance for its dtype."""
    if not isinstance(got, (list, tuple)) or len(got) != len(expected):
        return False
    return all(isinstance(g, (int, float)) and not isinstance(g, bool)
               and abs(g - e) <= passthrough_tolerance(eps, e) for g, e in zip(got, expected))


def test_run_experiment_reports_heldout_accuracy(spied):
    value = spied["value"]
    what = f"run_experiment({SPY_CONFIG}, seed={SPY_SEED})"
    if not isinstance(value, dict) or "test_accuracy" not in value:
        fail("{what}: oczekiwano słownika z kluczem 'test_accuracy', otrzymano {got}.",
             "{what}: expected a dict with the key 'test_accuracy', got {got}.", what=what, got=describe(value))
    accuracy = expect_number(value["test_accuracy"], f"{what}['test_accuracy']")
    evaluated = calls_named(spied["calls"], "evaluate")
    if not 0.0 <= accuracy <= 1.0:
        fail("{what}: dokładność powinna leżeć w [0, 1], otrzymano {got}.",
             "{what}: accuracy should lie in [0, 1], got {got}.", what=what, got=accuracy)
    # The stand-in evaluate's accuracies differ by 1e-4 per call; a float32 copy stays on its own call.
    slack = passthrough_tolerance(number_eps(value["test_accuracy"]), accuracy)
    if evaluated and not any(abs(e["accuracy"] - accuracy) <= slack and e["n"] == 2000 for e in evaluated):
        fail("{what}: 'test_accuracy' powinno być dokładnością na 2000 punktach testowych.",
             "{what}: 'test_accuracy' should be the accuracy on the 2000 test points.", what=what)


RESULTS_METHODS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
                             "__setitem__", "__delitem__", "__iadd__"})


def uses_results(tree: ast.AST) -> tuple[bool, bool]:
    """(mentions RESULTS, builds RESULTS): builds means assigns, deletes or mutates it."""
    mentions = builds = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "RESULTS":
            mentions = True
            builds |= isinstance(node.ctx, (ast.Store, ast.Del))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "RESULTS":
            builds |= isinstance(node.ctx, (ast.Store, ast.Del))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "RESULTS":
            builds |= node.attr in RESULTS_METHODS
    return mentions, builds


def cell_uses(submission) -> list[tuple[object, bool, bool]]:
    """(cell, mentions RESULTS, builds RESULTS) for every cell (parsed here, never run here)."""
    out = []
    for cell in submission.cells:
        try:
            mentions, builds = uses_results(ast.parse(cell.source))
        except SyntaxError:   # IPython syntax or a typo: the worker could not run it either
            mentions = builds = "RESULTS" in cell.source
        out.append((cell, mentions, builds))
    return out


def rebuild_cells(submission) -> list[list]:
    """[index, source, builds] for the notebook's cells up to the last that uses RESULTS, in order.

    The rebuild replays all of them, not only the RESULTS cells: helpers, constants and
    imports of earlier cells are part of how RESULTS is built. Cells that hung or crashed
    the worker are left out (the live namespace keeps what they defined, if anything).
    """
    uses = [(cell, mentions, builds) for cell, mentions, builds in cell_uses(submission)
            if cell.index not in submission.bad_cells]
    last = max((k for k, (_, mentions, _) in enumerate(uses) if mentions), default=None)
    if last is None or not any(builds for _, _, builds in uses[:last + 1]):
        return []
    return [[cell.index, cell.source, builds] for cell, _, builds in uses[:last + 1]]


@pytest.fixture(scope="module")
def fake_run(submission):
    """RESULTS rebuilt by the student's own cells with stand-in components, or the error."""
    cells = rebuild_cells(submission)
    if not cells:
        return {"error": tr("w notatniku nie ma komórki, która tworzy RESULTS",
                            "no notebook cell builds RESULTS")}
    try:
        return submission.op("fake_exec", cells, timeout=LIMITS.train_call_seconds,
                             what=tr("komórki tworzące RESULTS", "the cells that build RESULTS"))
    except (StudentError, WorkerFailure) as exc:
        return {"error": str(exc)}


@pytest.fixture(scope="module")
def notebook_results(submission):
    """RESULTS as the notebook left it, or None when a cell building it failed or never ran.

    A cell that only reads RESULTS (a table, a plot) may fail without casting doubt on it.
    """
    for cell, _, builds in cell_uses(submission):
        run = submission.cell_runs.get(cell.index)
        if builds and (run is None or run.status != "ok"):
            return None
    try:
        return submission.get("RESULTS")
    except Missing:
        return None


def rows_to_check(notebook_results, fake_run):
    """RESULTS as the notebook computed it, else as the stand-in run rebuilt it."""
    if notebook_results is not None:
        return notebook_results
    if "results" in fake_run and fake_run["results"] is not None:
        return fake_run["results"]
    fail("RESULTS nie istnieje ({why}).", "RESULTS does not exist ({why}).", why=fake_run.get("error", "?"))


def check_rows(rows) -> list[dict]:
    if not isinstance(rows, (list, tuple)) or not rows:
        fail("RESULTS: oczekiwano niepustej listy wierszy, otrzymano {got}.",
             "RESULTS: expected a non-empty list of rows, got {got}.", got=describe(rows))
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not {"factor", "config", "seed", "test_accuracy"} <= set(row):
            fail("RESULTS[{i}]: oczekiwano słownika z kluczami factor, config, seed, test_accuracy; "
                 "otrzymano {got}.", "RESULTS[{i}]: expected a dict with keys factor, config, seed, "
                 "test_accuracy; got {got}.", i=i, got=describe(row))
        config = row["config"]
        if not isinstance(config, dict) or set(config) != set(tuple(reference.LAB_CONFIG)):
            fail("RESULTS[{i}]['config']: oczekiwano kluczy {exp}, otrzymano {got}.",
                 "RESULTS[{i}]['config']: expected the keys {exp}, got {got}.", i=i, exp=list(tuple(reference.LAB_CONFIG)),
                 got=describe(config))
    return list(rows)


def row_key(row: dict) -> tuple:
    """A row's config and seed with numpy/torch numbers as Python ones, for comparing rows."""
    return repr(sorted((repr(k), v) for k, v in plain(row["config"]).items())), plain(row["seed"])


def test_results_rows_have_the_contract_keys(notebook_results, fake_run, artifacts):
    rows = check_rows(rows_to_check(notebook_results, fake_run))
    artifacts["results"] = [plain({"factor": r["factor"], "config": r["config"], "seed": r["seed"],
                                   "test_accuracy": r["test_accuracy"]}) for r in rows]
    for i, row in enumerate(rows):
        accuracy = expect_number(row["test_accuracy"], f"RESULTS[{i}]['test_accuracy']")
        if not 0 <= accuracy <= 1:
            fail("RESULTS[{i}]['test_accuracy'] powinno leżeć w [0, 1], otrzymano {got}.",
                 "RESULTS[{i}]['test_accuracy'] should lie in [0, 1], got {got}.", i=i, got=accuracy)


def factor_value(factor: str, config: dict):
    value = plain(config.get(FACTOR_KEY[factor]))   # 16 and np.int64(16) are one value
    if factor == "n_layers":
        return len(value) if isinstance(value, (list, tuple)) else value
    return tuple(value) if isinstance(value, list) else value


def test_results_cover_eight_factors_with_three_values_each(notebook_results, fake_run):
    rows = check_rows(rows_to_check(notebook_results, fake_run))
    missing = {}
    for factor in reference.FACTORS:
        values = {repr(factor_value(factor, r["config"])) for r in rows if plain(r["factor"]) == factor}
        if len(values) < 3:
            missing[factor] = len(values)
    if missing:
        fail("RESULTS: każdy z czynników {all} potrzebuje co najmniej 3 różnych wartości; brakuje: {got} "
             "(czynnik: liczba wartości).",
             "RESULTS: each of the factors {all} needs at least 3 distinct values; short: {got} "
             "(factor: number of values).", all=list(reference.FACTORS), got=missing)


@pytest.mark.weight(2)
def test_results_come_from_run_experiment(submission, notebook_results, fake_run, credit):
    """Rows must be what run_experiment returned: stand-in run for provenance, real re-run for values."""
    if "error" in fake_run:
        fail("Nie udało się odtworzyć RESULTS Twoimi komórkami: {why}.",
             "Could not rebuild RESULTS with your cells: {why}.", why=fake_run["error"])
    returned = fake_run.get("returned", [])
    rows = check_rows(fake_run.get("results"))
    calls = {}
    for r in returned:   # the stand-in accuracies of each (config, seed), however the row spells its numbers
        calls.setdefault(row_key(r), []).append(r["test_accuracy"])
    for i, row in enumerate(rows):
        if not any(same_accuracy(row["test_accuracy"], a, SETTINGS.tol.passthrough) for a in calls.get(row_key(row), [])):
            fail("RESULTS[{i}]: wartość test_accuracy nie pochodzi z wywołania run_experiment(config, seed) "
                 "dla konfiguracji i ziarna z tego wiersza.",
                 "RESULTS[{i}]: test_accuracy does not come from a call run_experiment(config, seed) with "
                 "this row's config and seed.", i=i)
    if notebook_results is None:
        credit.set(1.0, tr("RESULTS nie powstało w notatniku (błąd w innej części); kod eksperymentów "
                           "sprawdzono na komponentach zastępczych.",
                           "RESULTS was not built in the notebook (an error in another part); the experiment "
                           "code was checked with stand-in components."))
        return
    rows = check_rows(notebook_results)
    rng = np.random.default_rng(SETTINGS.seeds.experiment_rows)
    for i in sorted(rng.choice(len(rows), size=min(2, len(rows)), replace=False).tolist()):
        row = rows[i]
        rerun = submission.call("run_experiment", row["config"], seed=row["seed"],
                                _timeout=LIMITS.train_call_seconds).value
        raw = rerun.get("test_accuracy") if isinstance(rerun, dict) else rerun
        got = expect_number(raw, f"run_experiment(RESULTS[{i}]['config'], seed={plain(row['seed'])})['test_accuracy']")
        recorded = expect_number(row["test_accuracy"], f"RESULTS[{i}]['test_accuracy']")
        if not same_accuracy(row["test_accuracy"], raw, SETTINGS.tol.rerun_accuracy):
            rec, again = number_pair(recorded, got)
            fail("RESULTS[{i}]: zapisano test_accuracy={rec}, a ponowne run_experiment(config, seed={s}) daje {got}.",
                 "RESULTS[{i}]: recorded test_accuracy={rec}, but re-running run_experiment(config, seed={s}) "
                 "gives {got}.", i=i, rec=rec, s=plain(row["seed"]), got=again)


def same_accuracy(a, b, tol: float) -> bool:
    """Two accuracies agree within tol, widened to the coarser dtype either came in."""
    x, y = plain(a), plain(b)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y)):
        return False
    return abs(x - y) <= accuracy_tolerance(a, b, tol)


def accuracy_tolerance(a, b, tol: float) -> float:
    """How far two accuracies (numbers) may differ: tol, plus ``tol.number_ulps`` ulps of the
    larger at the eps of the coarser dtype either came in."""
    x, y = plain(a), plain(b)
    eps = max(number_eps(a), number_eps(b))
    return tol + SETTINGS.tol.number_ulps * eps * max(abs(x), abs(y))


@pytest.fixture(scope="module")
def best_config(submission):
    require_callable(submission, "run_experiment")
    try:
        config = submission.get("BEST_CONFIG")
    except Missing:
        fail("Nie zdefiniowano BEST_CONFIG.", "BEST_CONFIG is not defined.")
    if not isinstance(config, dict) or set(config) != set(tuple(reference.LAB_CONFIG)):
        fail("BEST_CONFIG: oczekiwano słownika z kluczami {exp}, otrzymano {got}.",
             "BEST_CONFIG: expected a dict with the keys {exp}, got {got}.", exp=list(tuple(reference.LAB_CONFIG)),
             got=describe(config))
    return best_as_python(config)


def best_as_python(config: dict) -> dict:
    """BEST_CONFIG with numpy/torch numbers as Python ones: students pick it from np.arange,
    np.logspace or a row of RESULTS. An sd that is 0.2 in its own dtype is the lab's 0.2."""
    out = plain(config)
    sd = out["sd"]
    if isinstance(sd, float) and abs(sd - reference.LAB_CONFIG["sd"]) <= dtype_tolerance(config["sd"], sd):
        out["sd"] = reference.LAB_CONFIG["sd"]
    if isinstance(out["hidden"], list):
        out["hidden"] = tuple(out["hidden"])
    return out


def dtype_tolerance(raw, value: float) -> float:
    """How far ``value`` (``raw`` as a Python number) may sit from the number it stands for
    because of the dtype ``raw`` came in alone: ``tol.number_ulps`` ulps of ``value``."""
    return SETTINGS.tol.number_ulps * number_eps(raw) * value


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def test_best_config_fits_the_budget(best_config):
    budget = SETTINGS.budget
    c = best_config
    problems = []
    if c["n"] != reference.LAB_CONFIG["n"] or c["sd"] != reference.LAB_CONFIG["sd"]:
        problems.append(tr("dane laboratorium to n=5000, sd=0.2", "the lab's data is n=5000, sd=0.2"))
    if c["activation"] not in ("relu", "tanh", "sigmoid", "leaky_relu"):
        problems.append(tr("nieznana aktywacja {a!r}", "unknown activation {a!r}", a=c["activation"]))
    hidden = c["hidden"]
    if not isinstance(hidden, (list, tuple)) or not all(is_int(h) and h > 0 for h in hidden):
        problems.append(tr("hidden musi być krotką dodatnich liczb całkowitych",
                           "hidden must be a tuple of positive integers"))
    elif n_parameters(tuple(hidden)) > budget.max_parameters:
        problems.append(tr("{p} parametrów > {m}", "{p} parameters > {m}", p=n_parameters(tuple(hidden)),
                           m=budget.max_parameters))
    if not is_int(c["n_epochs"]) or not 1 <= c["n_epochs"] <= budget.max_epochs:
        problems.append(tr("n_epochs={e!r} nie jest liczbą całkowitą z zakresu 1..{m}",
                           "n_epochs={e!r} is not an integer in 1..{m}", e=c["n_epochs"], m=budget.max_epochs))
    if not is_int(c["batch_size"]) or c["batch_size"] < budget.min_batch_size:
        problems.append(tr("batch_size={b!r} nie jest liczbą całkowitą ≥ {m}", "batch_size={b!r} is not an integer ≥ {m}",
                           b=c["batch_size"], m=budget.min_batch_size))
    if not isinstance(c["lr"], (int, float)) or isinstance(c["lr"], bool) or not 0 < c["lr"] <= 1:
        problems.append(tr("lr={lr} poza (0, 1]", "lr={lr} outside (0, 1]", lr=c["lr"]))
    if problems:
        fail("BEST_CONFIG nie mieści się w budżecie: {p}.", "BEST_CONFIG does not fit the budget: {p}.",
             p="; ".join(problems))


def heldout(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out points; their labels never leave this process."""
    X, y = reference.make_rings(SETTINGS.budget.heldout_points, sd=0.2, seed=SETTINGS.seeds.heldout + seed)
    return X.astype(np.float32), y


def accuracy_of(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean((probabilities.reshape(-1) > 0.5) == (labels > 0.5)))


def student_pipeline(submission, config: dict, seed: int, artifacts: dict | None) -> tuple[float, float]:
    """(held-out accuracy, CPU seconds of train) of BEST_CONFIG trained by the student's functions."""
    X, y = reference.make_rings(config["n"], sd=config["sd"], seed=seed)
    loader = submission.call("make_loader", X, y, batch_size=config["batch_size"], _seed=seed).value
    model = submission.call("Klasyfikator", tuple(config["hidden"]), config["activation"], _seed=seed).value
    optimizer = submission.call("make_optimizer", model, lr=config["lr"], _seed=seed).value
    trained = submission.call("train", model, loader, submission.op("bce_loss"), optimizer,
                              n_epochs=config["n_epochs"], _seed=seed,
                              _timeout=LIMITS.train_call_seconds)
    X_test, y_test = heldout(seed)
    probabilities = submission.op("forward", model, X_test).array
    if artifacts is not None:
        losses = plain(trained.value)   # a list of floats, np.float32 or 0-d tensors
        artifacts["best_losses"] = [float(v) for v in losses if isinstance(v, (int, float))] \
            if isinstance(losses, (list, tuple)) else []
        artifacts["boundary"] = submission.op("forward", model, boundary_grid()).array.reshape(-1).round(4).tolist()
    return accuracy_of(probabilities, y_test), trained.cpu_seconds


@reference_memo
def reference_pipeline(config: dict, seed: int) -> float:
    """The same config trained by the reference, here in the trusted process."""
    X, y = reference.make_rings(config["n"], sd=config["sd"], seed=seed)
    torch.manual_seed(seed)
    loader = reference.make_loader(X, y, batch_size=config["batch_size"])
    model = reference.Klasyfikator(tuple(config["hidden"]), config["activation"])
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        reference.train(model, loader, torch.nn.BCELoss(), reference.make_optimizer(model, config["lr"]),
                        config["n_epochs"])
    X_test, y_test = heldout(seed)
    model.eval()
    with torch.no_grad():
        return accuracy_of(model(torch.tensor(X_test)).numpy(), y_test)


def credit_for(accuracy: float) -> float:
    b = SETTINGS.budget
    return float(np.clip((accuracy - b.zero_credit_accuracy) / (b.full_credit_accuracy - b.zero_credit_accuracy),
                         0.0, 1.0))


@pytest.mark.weight(3)
def test_best_config_reaches_high_heldout_accuracy(submission, best_config, credit, artifacts):
    test_best_config_fits_the_budget(best_config)
    budget = SETTINGS.budget
    artifacts["best_config"] = best_config
    accuracies, seconds, problem = [], [], ""
    for k, seed in enumerate(SETTINGS.seeds.best_config):
        try:
            accuracy, cpu = student_pipeline(submission, best_config, seed, artifacts if k == 0 else None)
        except (StudentError, WorkerFailure, Missing, AttributeError) as exc:
            accuracy, cpu, problem = 0.0, 0.0, str(exc)[:300]
        accuracies.append(accuracy)
        seconds.append(cpu)
    artifacts["best_accuracies"] = accuracies
    # CPU seconds of the worker's processes, measured by the grader (labkit/sandbox/cputime.py), and
    # the budget scaled like every CPU budget by this host's measured speed (labkit/grading/speed.py).
    if max(seconds) > budget.max_train_seconds * submission.machine.budget_scale:
        fail("BEST_CONFIG: trening trwał {s:.1f} s CPU, budżet to {m:.0f} s.",
             "BEST_CONFIG: training took {s:.1f} CPU seconds, the budget is {m:.0f} s.",
             s=max(seconds), m=budget.max_train_seconds)
    median = float(np.median(accuracies))
    earned = credit_for(median)
    if earned >= 1.0:
        return
    reference_median = float(np.median([reference_pipeline(best_config, s) for s in SETTINGS.seeds.best_config]))
    artifacts["best_reference_accuracy"] = reference_median
    if credit_for(reference_median) > earned:
        credit.set(credit_for(reference_median), tr(
            "Twoje funkcje osiągnęły z BEST_CONFIG medianę dokładności {m:.4f}{p}; ta sama konfiguracja w potoku "
            "referencyjnym osiąga {r:.4f}, więc ocena konfiguracji pochodzi stąd (błąd leży w innej części).",
            "Your functions reached a median accuracy of {m:.4f} with BEST_CONFIG{p}; the same config in the "
            "reference pipeline reaches {r:.4f}, so the config is scored on that (the error lies in another part).",
            m=median, r=reference_median, p=f" ({problem})" if problem else ""))
        return
    # Enough digits that a median just under a threshold never prints as the threshold itself.
    shown = number_pair(budget.full_credit_accuracy if earned > 0 else budget.zero_credit_accuracy, median)[1]
    credit.set(earned, tr(
        "BEST_CONFIG: mediana dokładności na {n} punktach testowych to {m}; pełne punkty od {full}, zero "
        "poniżej {zero}.", "BEST_CONFIG: the median held-out accuracy on {n} points is {m}; full credit from "
        "{full}, none below {zero}.", n=budget.heldout_points, m=shown, full=budget.full_credit_accuracy,
        zero=budget.zero_credit_accuracy))
    if earned <= 0:
        fail("BEST_CONFIG: mediana dokładności {m} ≤ {zero}.", "BEST_CONFIG: median accuracy {m} ≤ {zero}.",
             m=shown, zero=budget.zero_credit_accuracy)


# --------------------------------------------------------------------------- diagnosis
# Known mistakes of the experiments, matched exactly on what the checks above already ran:
# never scored, named in the feedback and counted across the class.

def fabricated_rows(notebook_results, fake_run) -> bool:
    """RESULTS keeps every recorded accuracy when run_experiment returns stand-in numbers:
    the rows were typed in (or pasted from an earlier run), not computed."""
    rebuilt = fake_run.get("results") if isinstance(fake_run, dict) else None
    if not isinstance(notebook_results, (list, tuple)) or not isinstance(rebuilt, (list, tuple)):
        return False
    if not notebook_results or len(rebuilt) != len(notebook_results):
        return False
    try:
        recorded = [plain(r["test_accuracy"]) for r in notebook_results]
        again = [plain(r["test_accuracy"]) for r in rebuilt]
    except (TypeError, KeyError):
        return False
    # A computed row follows the stand-in (noise data, about 0.5); a typed-in one cannot.
    returned = {plain(r["test_accuracy"]) for r in fake_run.get("returned", [])}
    return recorded == again and not set(again) & returned


@pytest.mark.diagnosis
def test_diagnose_results_typed_in_by_hand(notebook_results, fake_run, diagnosis):
    if "test_results_come_from_run_experiment" not in diagnosis.failed:
        pytest.skip("nothing to explain")
    if fabricated_rows(notebook_results, fake_run):
        diagnosis.found("fabricated_results", tr(
            "Wygląda na wartości test_accuracy wpisane ręcznie (albo przepisane z wcześniejszego uruchomienia): "
            "gdy run_experiment zwraca inne liczby, RESULTS zawiera wciąż te same.",
            "Looks like test_accuracy values typed in by hand (or pasted from an earlier run): when "
            "run_experiment returns other numbers, RESULTS still holds the same ones."))


def trained_like_the_lab(config: dict) -> dict:
    """BEST_CONFIG with at least the lab's own epochs and learning rate, everything else kept."""
    lab = reference.LAB_CONFIG
    return {**config, "n_epochs": max(config["n_epochs"], lab["n_epochs"]), "lr": max(config["lr"], lab["lr"])}


@pytest.mark.diagnosis
def test_diagnose_an_undertrained_best_config(artifacts, diagnosis):
    """The reference pipeline, under the check's seeds, falls short with BEST_CONFIG but reaches
    full credit with the same config trained as long as the lab's settings: the training is short."""
    if "test_best_config_reaches_high_heldout_accuracy" not in diagnosis.failed:
        pytest.skip("nothing to explain")
    config, reference_median = artifacts.get("best_config"), artifacts.get("best_reference_accuracy")
    if config is None or reference_median is None or credit_for(reference_median) >= 1.0:
        return   # the config reaches full credit in the reference: the cause lies elsewhere
    longer = trained_like_the_lab(config)
    if longer == config:
        return
    longer_median = float(np.median([reference_pipeline(longer, s) for s in SETTINGS.seeds.best_config]))
    if credit_for(longer_median) < 1.0:
        return   # more training alone does not fix it (too small a model, a poor activation, ...)
    diagnosis.found("undertrained_best_config", tr(
        "Wygląda na zbyt krótki trening: z BEST_CONFIG (n_epochs={e}, lr={lr}) model osiąga medianę {r:.4f}, "
        "a z tą samą konfiguracją trenowaną jak w ustawieniach z laboratorium (n_epochs={le}, lr={llr}) "
        "{v:.4f}. Zwiększ liczbę epok lub współczynnik uczenia (w granicach budżetu).",
        "Looks like too little training: with BEST_CONFIG (n_epochs={e}, lr={lr}) the model reaches a median "
        "of {r:.4f}, and with the same config trained like the lab's own settings (n_epochs={le}, lr={llr}) "
        "{v:.4f}. Raise the number of epochs or the learning rate (within the budget).",
        e=config["n_epochs"], lr=config["lr"], r=reference_median, le=longer["n_epochs"], llr=longer["lr"],
        v=longer_median))
