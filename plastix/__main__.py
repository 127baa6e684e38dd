"""``python -m plastix``: the command line."""

from plastix.cli import run

run()
