"""Engine-level benchmark (``python benches/engine.py``): real hpcflow workflows
(hpcflow-new2 0.2.0a190 and hpcflow 0.3.0) driven through the engine, on the engine's
own Zarr store and on wfstore registered in its place, in one run.

Variants (each phase of each variant in a process of its own):

* ``hpcflow``: the engine's own Zarr store;
* ``wfstore-engine``: ``wfstore.hpcflow.register()``, the engine's layout (one run and
  one parameter per chunk file);
* ``wfstore-own``: ``register(run_chunk_size=100, param_chunk_size=100)``, wfstore's
  own layout;
* ``hpcflow-0.3``: hpcflow 0.3.0's own Zarr store, and ``wfstore-0.3``: wfstore
  registered under hpcflow 0.3.0; both run by another Python (``--hpcflow03-python``,
  default ``$WFSTORE_HPCFLOW03_PYTHON``: hpcflow 0.3.0, zarr 2.17.2 and wfstore). Each is
  probed first and skipped, saying why, when it cannot run (no such Python, or one
  without hpcflow 0.3.x or wfstore). A phase a store cannot do is
  skipped, saying why (0.3.0's own store cannot rechunk). Ratios are against the same
  engine generation's own store; 0.3.0's jobs call ``set_EAR_start(run, None, None)``
  and ``set_EAR_end((jobscript, block, action), run, 0)`` as its job scripts do.

Workloads (N runs, ``--runs``, 10,000 by default; ``--scale`` adds 100,000):

* ``sequence``: two tasks made with ``hpcflow.sdk.core.test_utils.make_workflow``: the
  first over a sequence of N/2 values of ``p1`` producing ``p2``, the second taking
  ``p2`` and producing ``p3`` (so every run has an output to save in the jobs phase);
* ``loop``: one task (``p1`` in, ``p1`` out) over N/20 values, repeated over 20
  iterations by an hpcflow ``Loop``;
* ``arrays``: as ``sequence`` with numpy arrays (``--array-size`` float64 values) as
  the inputs and the outputs.

Phases, in this order on one workflow, each timed inside a fresh process (interpreter
start-up, imports and the engine's configuration are not timed):

``make`` the workflow from its template; ``read``: open it, read every run
(``wk.get_all_EARs()``) and every element iteration's inputs and outputs (``get``);
``show``: ``wk.show_all_EAR_statuses()`` (printed to devnull); ``submission``:
``wk.add_submission()`` (nothing reaches a scheduler); ``jobs``: ``--procs`` processes
each open the workflow as a job script does (``app.Workflow(path)``) and, for their
share of the elements (element e goes to process e mod P, as a job array runs them),
call ``wk.set_EAR_start``, ``wk.save_parameter`` (the run's first output) and
``wk.set_EAR_end`` per run; ``zip`` (``wk.zip()``); ``read_zip``: open the archive and
read every run; ``rechunk`` (``wk.rechunk(backup=True, status=False)``).

Per phase: the wall time, the ratio against ``hpcflow``, the store's share of the time
(every method and property getter of the variant's store classes, their bases, and the
classes of the store's helper objects such as its pending changes, wrapped; only the
outermost calls counted), the peak RSS of the process (``VmHWM``, reset before the
phase), and the number of files in the store after it. The wrappers cost time, so by
default each variant's chain of phases runs twice (``--share separate``): once plain
for the times, RSS and files, once wrapped for the store's share; ``--share inline``
wraps the timed chain (faster, times inflated by the wrappers), ``--share off`` skips it.

Benchmark a release build of wfstore (``maturin build --release``; the test command's
wheel is unoptimised, and its Rust core several times slower).

Usage (with the engine's Python: hpcflow-new2 0.2.0a190, zarr 2.17.2, wfstore)::

    python benches/engine.py                                # 10k runs, every workload
    python benches/engine.py --runs 200 --workloads sequence --share inline   # smoke
    python benches/engine.py --scale                        # ... plus 100k runs
    python benches/engine.py report benches/results/engine.json  # tables + plot again

Only the standard library, numpy, hpcflow and wfstore are imported by the workers; the
report helpers (markdown and text tables, the README block, the measuring of RSS and
files) are the store-API runner's (``wfstore.tools.bench`` when installed, else
``benches/compare.py``).
"""
