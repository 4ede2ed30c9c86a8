"""What users do with whole stores: create, open and convert them
(:mod:`~wfstore.tools.stores`, :mod:`~wfstore.tools.convert`), look inside
(:mod:`~wfstore.tools.inspect`), check and repair them (:mod:`~wfstore.tools.verify`,
:mod:`~wfstore.tools.repair`), the demo and the benchmark runner
(:mod:`~wfstore.tools.bench`)."""
