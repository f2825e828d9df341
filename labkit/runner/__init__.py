"""Grading many notebooks: parallel batches, the verdict cache, usable CPUs."""
