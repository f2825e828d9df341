"""`python -m labkit ...`: the same commands as the `labkit` script (labkit/cli.py)."""
import sys

from labkit.cli import main

sys.exit(main())
