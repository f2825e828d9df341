"""The column names of Moodle's and Canvas's CSV files, in each interface language the kit
knows, and how a file's language is recognised.

Moodle writes the grading worksheet's and the participants export's headers in the language of
the teacher who downloads them, and its upload finds ``Grade``, ``Identifier`` and
``Last modified (grade)`` by that same text (mod/assign/feedback/offline/importgradeslib.php,
``assignfeedback_offline_grade_importer::init()``); so the kit reads whichever language the
file has and writes the headers back untouched. The texts are Moodle's language strings
(docs/lms.md lists each string id, in the English core pack and the Polish language pack).
Canvas's gradebook headers are not translated (lib/gradebook_exporter.rb): one set.

``--column KEY=HEADER`` still renames any key, for a site that customised a string or a
language the kit does not know.
"""
from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("en", "pl")

# key -> {language: header texts accepted (Moodle versions differ in capitals)}
MOODLE_WORKSHEET: dict[str, dict[str, tuple[str, ...]]] = {
    "identifier": {"en": ("Identifier",), "pl": ("Identyfikator",)},                      # assign/recordid
    "full_name": {"en": ("Full name",), "pl": ("Pełna nazwa", "Imię i nazwisko")},       # core/fullnameuser
    "email": {"en": ("Email address", "Email"), "pl": ("E-mail", "Adres e-mail")},        # core/email
    "id_number": {"en": ("ID number",), "pl": ("Numer ID", "Numer Indeksu")},            # core/idnumber
    "status": {"en": ("Status",), "pl": ("Status",)},                                     # assign/status
    "grade": {"en": ("Grade",), "pl": ("Ocena",)},                                        # core/gradenoun
    "max_grade": {"en": ("Maximum Grade", "Maximum grade"), "pl": ("Maksymalna ocena",)},  # assign/maxgrade
    "can_change": {"en": ("Grade can be changed",), "pl": ("Ocena może być zmieniona",)},  # assign/gradecanbechanged
    "submitted": {"en": ("Last modified (submission)",),                                  # assign/lastmodifiedsubmission
                  "pl": ("Ostatnia modyfikacja (przesłane rozwiązanie)",)},
    "graded": {"en": ("Last modified (grade)",), "pl": ("Ostatnia aktualizacja (ocena)",)},  # assign/lastmodifiedgrade
    "feedback": {"en": ("Feedback comments",), "pl": ("Komentarz zwrotny",)},             # assignfeedback_comments/pluginname
}
MOODLE_PARTICIPANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "first_name": {"en": ("First name",), "pl": ("Imię",)},
    "last_name": {"en": ("Last name", "Surname"), "pl": ("Nazwisko",)},
    "full_name": {"en": ("Full name",), "pl": ("Pełna nazwa", "Imię i nazwisko")},
    "id_number": {"en": ("ID number",), "pl": ("Numer ID", "Numer Indeksu")},
    "email": {"en": ("Email address", "Email"), "pl": ("E-mail", "Adres e-mail")},
}
# A student number kept in a custom profile field shows under the field's own name when the
# site lists it among the identity fields (showuseridentity): these names are recognised too.
STUDENT_NUMBER = ("Numer indeksu", "Nr indeksu", "Indeks", "Numer albumu", "Nr albumu", "Student number",
                  "Student ID", "Matriculation number")

# The worksheet's Status of a draft (assign/submissionstatus_draft) and of no submission at all
# (assign/submissionstatus_new and the empty status). Moodle 4.4+ joins the status lines with
# " - " and leaves " -  - " at the end (gradingtable.php, col_status()).
# The Polish pack has said "Wersja robocza" and "Wersja robocza (nieprzesłana)": the prefix is matched.
MOODLE_DRAFT = ("Draft (not submitted)", "Wersja robocza")
MOODLE_NO_SUBMISSION = ("No submission", "Brak przesłanego zadania", "Brak przesłanych zadań")
# "Grade can be changed": the core string "no".
MOODLE_NO = ("No", "Nie")

CANVAS_GRADEBOOK: dict[str, dict[str, tuple[str, ...]]] = {
    "student": {"en": ("Student",)},
    "last_name": {"en": ("LastName",)},
    "first_name": {"en": ("FirstName",)},
    "id": {"en": ("ID",)},
    "sis_user_id": {"en": ("SIS User ID",)},
    "sis_login_id": {"en": ("SIS Login ID",)},
    "section": {"en": ("Section",)},
}


@dataclass
class Columns:
    """A file's columns by key: the index of each found, and the language its headers are in."""

    language: str
    index: dict[str, int | None]
    headers: dict[str, str]         # key -> the header text looked for (for messages)

    def __getitem__(self, key: str) -> int | None:
        return self.index.get(key)


def _norm(text: str) -> str:
    return " ".join(text.replace("\ufeff", "").split()).casefold()


def resolve(columns: list[str], table: dict[str, dict[str, tuple[str, ...]]], *,
            overrides: dict[str, str] | None = None, required: tuple[str, ...] = (), what: str = "file",
            extra: dict[str, tuple[str, ...]] | None = None) -> Columns:
    """Find each key's column in ``columns`` (a file's header row).

    The language is the one whose texts match the most headers; a key is looked up in that
    language first, then in the others (a site may mix). ``overrides`` (``--column``) win.
    A ``required`` key that is missing is an error naming the key, the texts tried and the
    file's own headers."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(table) - set(extra or {})
    if unknown:
        raise KeyError(f"unknown column key(s) {sorted(unknown)}; known: {sorted({*table, *(extra or {})})}")
    have = {_norm(c): i for i, c in reversed(list(enumerate(columns)))}
    langs = sorted({lang for names in table.values() for lang in names})
    score = {lang: sum(1 for names in table.values() for t in names.get(lang, ()) if _norm(t) in have)
             for lang in langs}
    language = max(langs, key=lambda lang: (score[lang], lang == "en"))
    index: dict[str, int | None] = {}
    headers: dict[str, str] = {}
    for key, names in {**table, **{k: {"*": v} for k, v in (extra or {}).items()}}.items():
        if key in overrides:
            tried = (overrides[key],)
        else:
            tried = (*names.get(language, ()), *(t for lang, ts in names.items() if lang != language for t in ts))
        headers[key] = " / ".join(repr(t) for t in tried)
        index[key] = next((have[_norm(t)] for t in tried if _norm(t) in have), None)
    missing = [k for k in required if index.get(k) is None]
    if missing:
        raise KeyError(f"{what}: no column {' or '.join(headers[k] for k in missing)} "
                       f"(the file has {columns}); name it with --column {missing[0]}=HEADER")
    return Columns(language=language, index=index, headers=headers)


def is_draft(status: str) -> bool:
    """A Moodle worksheet Status that says the submission is a draft, in either language."""
    return any(_norm(d) in _norm(status) for d in MOODLE_DRAFT)


def moodle_status(status: str) -> str:
    """"draft", "new" (nothing submitted) or "submitted" from the worksheet's Status text."""
    if is_draft(status):
        return "draft"
    first = _norm(status.split(" - ")[0])
    if not first or any(_norm(t) == first for t in MOODLE_NO_SUBMISSION):
        return "new"
    return "submitted"
