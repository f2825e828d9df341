"""The notebook exporter that keeps grading when a submitted notebook cannot be read."""
from __future__ import annotations


import nbformat
from nbconvert.exporters import NotebookExporter




class TolerantNotebookExporter(NotebookExporter):
    """Reads a submission nbformat cannot (not JSON, a broken nbformat 3) as an empty notebook.

    Without it nbgrader aborts that student (nothing in autograded/, no feedback) and exits
    1 at the end of the batch. With it the student gets a gradebook entry of zero and
    feedback that says why; GradeInWorker reads the reason from the notebook's metadata.
    """

    def from_file(self, file_stream, resources=None, **kw):
        raw = file_stream.read()
        try:
            nb = nbformat.reads(raw, as_version=4)
        except Exception as exc:  # NotJSONError, ValidationError, errors of the v3->v4 upgrade
            nb = nbformat.v4.new_notebook()
            nb.metadata["labkit"] = {"unreadable": f"{type(exc).__name__}: {str(exc)[:300]}"}
            self.log.warning("labkit: unreadable notebook graded as empty: %s", nb.metadata["labkit"]["unreadable"])
        return self.from_notebook_node(nb, resources=resources, **kw)
