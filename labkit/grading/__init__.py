"""Grading one notebook: the pytest plug-in and check helpers of the hidden tests, the client that talks to the worker, the trusted grader process, in-kernel mode."""
