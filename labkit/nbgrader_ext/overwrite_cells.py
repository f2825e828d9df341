"""nbgrader's OverwriteCells, safe when a student deleted or duplicated a graded cell."""
from __future__ import annotations

from nbgrader.preprocessors import OverwriteCells

from labkit.core.cells import grade_id


class SafeOverwriteCells(OverwriteCells):
    """OverwriteCells whose add_missing_cells survives real notebooks.

    nbgrader 0.9.6 raises KeyError (and aborts the student) when a deleted grade cell
    follows a locked cell (here: experiments_tests after demo_best), and when
    DeduplicateIds has emptied the metadata of a duplicated cell. Missing grade cells go
    after the nearest earlier cell of the source notebook that is still present.
    """

    def preprocess(self, nb, resources):
        # DeduplicateIds leaves ``nbgrader: {}`` on the earlier copies of a duplicated cell;
        # CheckCellMetadata then calls it an "old metadata format" and nbgrader aborts the
        # whole batch, not just this student. A cell without metadata is plain student code.
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", None) == {}:
                del cell.metadata["nbgrader"]
        return super().preprocess(nb, resources)

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = source_nb.source_cells
        order = [cell.name for cell in source_cells]
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        for grade_cell in source_nb.grade_cells:
            present = {grade_id(cell): i for i, cell in enumerate(nb.cells) if grade_id(cell)}
            if grade_cell.name in present:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", grade_cell.name)
            index = order.index(grade_cell.name)
            cell = self.missing_cell_transform(source_cells[index], grade_cell.max_score,
                                               is_solution=grade_cell.name in solution_ids)
            position = next((present[prev] + 1 for prev in reversed(order[:index]) if prev in present), 0)
            nb.cells.insert(position, cell)
        return nb, resources

    def add_missing_task_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = source_nb.source_cells
        order = [cell.name for cell in source_cells]
        present = {grade_id(cell) for cell in nb.cells}
        for task_cell in source_nb.task_cells:
            if task_cell.name not in present:
                cell = source_cells[order.index(task_cell.name)]
                nb.cells.append(self.missing_cell_transform(cell, task_cell.max_score, is_task=True))
        return nb, resources
