"""labkit/worker/server.py: the grader's seeds, as the worker sets them before each cell and call, and
the figures a cell leaves."""
from __future__ import annotations

import random

import numpy as np
import torch

from labkit.worker.server import Worker, _seed_everything


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seeding_gives_the_draws_of_the_libraries_own_seed_calls():
    for seed in (0, 7, 2**31 + 5):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        expected = _draws()
        _seed_everything(seed)
        assert _draws() == expected, seed


def test_seeding_queues_nothing_for_devices_this_build_does_not_have():
    """torch.manual_seed queues a lazy CUDA seeding with a formatted stack on every call; the
    worker seeds once or twice per request, so those would pile up for the whole grading."""
    queued = len(torch.cuda._queued_calls)
    for seed in range(100):
        _seed_everything(seed)
    assert len(torch.cuda._queued_calls) == queued


def test_a_rebound_torch_manual_seed_does_not_stop_the_graders_seeding(monkeypatch):
    monkeypatch.setattr(torch, "manual_seed", lambda *_: None)
    _seed_everything(3)
    first = torch.rand(2).tolist()
    _seed_everything(3)
    assert torch.rand(2).tolist() == first


def test_a_cell_keeps_at_most_images_per_cell_figures_and_renders_none_at_zero(monkeypatch):
    """LABKIT_LIMIT_IMAGES_PER_CELL=0 keeps figures out of the autograded notebook, and their
    rendering (about 2 CPU s of the lab's notebook) out of the grading."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    monkeypatch.setattr(plt, "show", plt.show)   # the worker rebinds it; restored afterwards
    rendered = []
    savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (rendered.append(self), savefig(self, *a, **k)))
    cell = "import matplotlib.pyplot as plt\nfor k in range(3):\n    plt.figure()\n    plt.plot([0, k])\nplt.show()"
    for images in (0, 2):
        rendered.clear()
        reply = Worker(0, 10_000, images).exec_cell(0, cell, seed=1)
        pngs = [o for o in reply["outputs"] if "image/png" in o.get("data", {})]
        assert (len(pngs), len(rendered)) == (images, images)
        assert reply["error"] is None and plt.get_fignums() == []
