"""The wire between the trusted grader and the untrusted worker: framing and encoding (JSON with raw array bytes, never pickle)."""
