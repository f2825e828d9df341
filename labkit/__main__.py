"""`python -m labkit ...`: the same commands as the `labkit` script (labkit/cli/main.py)."""
import sys

from labkit.cli.main import main

sys.exit(main())
