"""`python -m dsreg …`: the `dsreg` command, for where the console script is not on PATH (SLURM prologs)."""

import sys

from dsreg.cli import main

sys.exit(main())
