"""``python -m wfstore.cli ARGS``: the ``wfstore`` command."""

from wfstore.cli import main

main()
