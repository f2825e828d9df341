"""What the kit writes into an autograded notebook's cells: a part's verdict as a readable
report, its score as nbgrader's partial-credit ``execute_result``, and the outputs a cell
left, sanitized (only text and PNG, bounded)."""
from __future__ import annotations


import nbformat

from labkit.term import overrides
from labkit.core.i18n import tr
from labkit.core.results import CellStatus, CheckStatus, PartResult



_ALLOWED_MIME = ("text/plain", "image/png")
_MAX_TEXT = 100_000
_MAX_IMAGE = 2_000_000


def report_text(part: PartResult, decisions: list[dict] = (), diagnoses: list[dict] = ()) -> str:
    """The part's checks as the student reads them in feedback, with the likely mistake the
    grader recognised and the TA's decisions on it."""
    lines = [tr("Część `{p}`: {s:.2f} / {m:.2f} pkt", "Part `{p}`: {s:.2f} / {m:.2f} points",
                p=part.part, s=part.score, m=part.max_points)]
    for check in part.checks:
        mark = {CheckStatus.PASSED: "✔", CheckStatus.PARTIAL: "◐"}.get(check.status, "✘")
        lines.append(f"{mark} {check.name}")
        if check.message:
            lines.extend("    " + line for line in check.message.splitlines())
    lines.extend(tr("Diagnoza (nie wpływa na wynik): {m}", "Diagnosis (does not change the score): {m}",
                    m=d.get("message", "")) for d in diagnoses if d.get("part") == part.part)
    lines.extend(decision_text(d) for d in decisions if d.get("part") == part.part)
    return "\n".join(lines) + "\n"

def decision_text(d: dict) -> str:
    """One TA decision as the student reads it: what changed (or not), who decided, why."""
    who = f"{d.get('by', '')}, {d.get('date', '')}".strip(", ")
    if d.get("decision") == overrides.REJECTED:
        return tr("Prośba o ponowną ocenę rozpatrzona bez zmiany wyniku ({w}). Uzasadnienie: {r}",
                  "Regrade request answered without a change ({w}). Reason: {r}", w=who, r=d.get("reason", ""))
    if d.get("check"):
        return tr("Ocena testu {c} zmieniona przez prowadzącego: {g:.2f} → {n:.2f} ({w}). Uzasadnienie: {r}",
                  "A TA changed check {c}: {g:.2f} → {n:.2f} ({w}). Reason: {r}",
                  c=d["check"], g=d.get("graded", 0.0), n=d.get("now", 0.0), w=who, r=d.get("reason", ""))
    return tr("Wynik części zmieniony przez prowadzącego: {g:.2f} → {n:.2f} pkt ({w}). Uzasadnienie: {r}",
              "A TA changed this part's score: {g:.2f} → {n:.2f} points ({w}). Reason: {r}",
              g=d.get("graded", 0.0), n=d.get("now", 0.0), w=who, r=d.get("reason", ""))

def verdict_outputs(part: PartResult | None, invalid: str = "", decisions: list[dict] = (),
                    diagnoses: list[dict] = ()) -> list:
    """Outputs that make nbgrader's determine_grade() read exactly the part's score."""
    if part is None or (not part.checks and not part.override):
        text = tr("Brak wyników dla tej części{r}.", "No results for this part{r}.",
                  r=f": {invalid}" if invalid else "")
        return [nbformat.v4.new_output("error", ename="GradingError", evalue=text, traceback=[text])]
    report = report_text(part, decisions, diagnoses)
    stream = nbformat.v4.new_output("stream", name="stdout", text=report)
    if part.score <= 0:
        summary = tr("Część nie zdobyła punktów", "The part earned no points")
        return [stream, nbformat.v4.new_output("error", ename="AssertionError", evalue=summary,
                                               traceback=[summary])]
    return [stream, nbformat.v4.new_output("execute_result", data={"text/plain": f"{part.score:.4f}"},
                                           execution_count=None)]

def sanitize_outputs(outputs: list) -> list[dict]:
    """Worker outputs are untrusted: keep known types, plain text and PNG only, bounded."""
    clean = []
    for out in outputs if isinstance(outputs, list) else []:
        if not isinstance(out, dict):
            continue
        kind = out.get("output_type")
        if kind == "stream" and out.get("name") in ("stdout", "stderr"):
            clean.append({"output_type": "stream", "name": out["name"], "text": str(out.get("text", ""))[:_MAX_TEXT]})
        elif kind in ("display_data", "execute_result") and isinstance(out.get("data"), dict):
            data = {}
            for mime in _ALLOWED_MIME:
                value = out["data"].get(mime)
                if isinstance(value, str) and len(value) <= (_MAX_IMAGE if mime == "image/png" else _MAX_TEXT):
                    data[mime] = value
            if data:
                entry = {"output_type": kind, "data": data, "metadata": {}}
                if kind == "execute_result":
                    entry["execution_count"] = None
                clean.append(entry)
        elif kind == "error":
            tb = out.get("traceback", [])
            clean.append({"output_type": "error", "ename": str(out.get("ename", "Error"))[:200],
                          "evalue": str(out.get("evalue", ""))[:2000],
                          "traceback": [str(t)[:2000] for t in tb[:20]] if isinstance(tb, list) else []})
    return clean

def cell_failure_output(status: CellStatus) -> dict:
    text = {
        CellStatus.TIMEOUT: tr("Komórka przekroczyła limit czasu procesora albo czekała zbyt długo, nic nie licząc, "
                      "i została przerwana (limity: początek notatnika).",
                      "The cell exceeded its CPU-time limit, or waited too long without computing, "
                      "and was stopped (limits: top of the notebook)."),
        CellStatus.OVERLOADED: tr("Serwer sprawdzarki był przeciążony i nie dał tej komórce dość czasu procesora; "
                         "to nie Twoja wina, praca zostanie oceniona ponownie.",
                         "The grading server was overloaded and gave this cell too little CPU time; "
                         "this is not your fault, the work will be graded again."),
        CellStatus.CRASHED: tr("Komórka zakończyła proces z Twoim kodem.", "The cell killed the process running your code."),
        CellStatus.SKIPPED: tr("Komórkę pominięto, bo wcześniej przerwała działanie.",
                      "The cell was skipped because it broke a previous run."),
    }[status]
    return {"output_type": "error", "ename": "CellAborted", "evalue": text, "traceback": [text]}
