"""What TAs read: the report, item analysis, similarity."""
