"""The course's hidden checks, one package per assignment (``grader_tests.<id>``): never released."""
