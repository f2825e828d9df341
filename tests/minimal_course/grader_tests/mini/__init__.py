"""mini's hidden checks (docs/new-assignment.md, step 3)."""
