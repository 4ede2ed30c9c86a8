"""``wfstore.errors``: the name under which the extension (``wfstore._core``) looks up
the exception classes it raises; the classes live in :mod:`wfstore.common.errors`,
which importing this name gives. To go once the bindings declare their exceptions
themselves."""

from __future__ import annotations

import sys

from wfstore.common import errors as _errors

sys.modules[__name__] = _errors
