"""nbgrader's ClearSolutions with the stub text in the assignment's language."""
from __future__ import annotations


from nbgrader.preprocessors import ClearSolutions
from traitlets import Dict

from labkit.core import assignment as assignments
from labkit.core.i18n import language

from labkit.nbgrader_ext.course_context import assignment_of


class LocalizedClearSolutions(ClearSolutions):
    """nbgrader's ClearSolutions, with the stubs in the assignment's language.

    ``ClearSolutions.code_stub`` and ``text_stub`` are one per course; an English twin of a
    Polish lab needs "YOUR CODE HERE" where the Polish one says "TUTAJ WPISZ SWÓJ KOD".
    """

    stubs = Dict(
        {"pl": {"code": "# TUTAJ WPISZ SWÓJ KOD\nraise NotImplementedError()", "text": "TUTAJ WPISZ SWOJĄ ODPOWIEDŹ"},
         "en": {"code": "# YOUR CODE HERE\nraise NotImplementedError()", "text": "YOUR ANSWER HERE"}},
        help="language -> {'code': stub, 'text': stub}; the language is LABKIT_LANG, else the assignment's.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        assignment = assignment_of(self, resources)
        if assignment is not None:
            assignments.activate(assignment)
            stub = self.stubs.get(language()) or self.stubs["pl"]
            language_name = nb.metadata.get("kernelspec", {}).get("language", "python")
            self.code_stub = {**self.code_stub, language_name: stub["code"]}
            self.text_stub = stub["text"]
        return super().preprocess(nb, resources)
