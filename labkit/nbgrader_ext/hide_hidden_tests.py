"""Feedback without hidden tests: nbgrader's ClearHiddenTests for the kit's autograder cells."""
from __future__ import annotations


from nbgrader.preprocessors import ClearHiddenTests

from labkit.core.cells import is_autograder_tests



class HideHiddenTests(ClearHiddenTests):
    """Feedback without the autograder cells' hidden sections (nbgrader issue #917).

    nbgrader's feedback shows autograded notebooks as they are, hidden test code included.
    This strips the ``BEGIN/END HIDDEN TESTS`` region from autograder-test cells only: a
    student who types the markers into their own cell gets their cell back unchanged, and
    feedback generation never fails on it.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if is_autograder_tests(cell):
            try:
                self._remove_hidden_test_region(cell)
            except RuntimeError:   # unbalanced markers: hide the whole source rather than leak it
                cell.source = ""
        return cell, resources
