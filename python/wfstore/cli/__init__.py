"""The ``wfstore`` console command (``wfstore.cli:main``): the group and its options in
:mod:`~wfstore.cli.app`, one module per subcommand, shared output helpers in
:mod:`~wfstore.cli.ui`."""

from wfstore.cli.app import cli, main
from wfstore.cli.ui import EXIT_DAMAGED, EXIT_ERROR, UI

__all__ = ["EXIT_DAMAGED", "EXIT_ERROR", "UI", "cli", "main"]
