"""``wfstore.hpcflow``, the public name of :mod:`wfstore.integrations.hpcflow`: importing
it gives that module itself (one module, one registration state), and
``python -m wfstore.hpcflow <engine CLI> ...`` runs its :func:`main`."""

from __future__ import annotations

import sys

from wfstore.integrations import hpcflow as _hpcflow

if __name__ == "__main__":
    _hpcflow.main()
else:
    sys.modules[__name__] = _hpcflow
