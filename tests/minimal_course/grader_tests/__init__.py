"""The minimal course's hidden checks, one package per assignment."""
