"""The ``plastix`` command line.

``plastix train AGENT [options]`` takes its options from the config dataclasses (``RunConfig``,
the algorithm's config, ``DiagnosticsConfig`` and the interventions' configs): every field is
a flag, its docstring the help. Bad input exits with code 2 and a message that names the
problem and the valid choices, before anything is compiled.
"""

from __future__ import annotations

import os
import sys

from plastix.errors import INTERRUPTED


def run() -> None:
    """The ``plastix`` executable: ``main``, then exit with its code. An interrupted run has
    written its files (status ``interrupted``) when ``main`` returns, so it exits at once,
    without the interpreter's exit hooks: JAX's would otherwise print a traceback when a
    second Ctrl-C cut its clean-up."""
    code = main()
    if code == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from plastix.cli.commands import COMMANDS, usage
    from plastix.console import fail

    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command = argv[0]
    if command not in COMMANDS:
        return fail(f"unknown command {command!r}. Valid choices: {', '.join(COMMANDS)}")
    if command == "train" and (len(argv) == 1 or argv[1] in ("-h", "--help")):
        print(usage())
        return 0
    return COMMANDS[command](argv[1:])


if __name__ == "__main__":
    run()
