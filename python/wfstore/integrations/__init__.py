"""wfstore inside workflow engines: :mod:`wfstore.integrations.hpcflow` (public name
``wfstore.hpcflow``)."""
