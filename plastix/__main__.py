"""``python -m plastix``: the command line."""

import sys

from plastix.cli import main

sys.exit(main())
