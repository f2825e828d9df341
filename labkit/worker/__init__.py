"""What runs inside the sandbox, next to student code: the worker's request loop and its operations. Imports only labkit.protocol and labkit.core (import-linter keeps it so)."""
