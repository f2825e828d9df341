"""Seeding torch's generators without torch.manual_seed's per-call cost.

torch.manual_seed also queues a lazy seeding of CUDA, XPU and MTIA, each with a formatted copy
of the caller's stack, and on a CPU-only build those queues are never run or freed. The worker
seeds before every request and the reference memo around every reference call, so that was
about 0.4 ms and three stacks of memory each time. Seeding the CPU generator directly gives
the same draws (tests/test_worker.py checks them against torch.manual_seed).
"""
from __future__ import annotations


def seed_torch(seed: int) -> None:
    """torch's CPU generator (and CUDA's, where it is in use) set as torch.manual_seed(seed) would."""
    import torch
    torch.random.default_generator.manual_seed(int(seed))
    if torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(int(seed))
