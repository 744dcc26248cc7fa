"""Batch reproduction: papermill sweeps of notebooks × a parameter grid × seeds, locally or on Dask.

Modules: `spec` (presets and spec files -> runs), `execute` (papermill, local or Dask), `aggregate` (tables),
`figures`, `summary` (writes a folder's summary) and `cli` (the ``reproduce`` command).

``python -m mygo_nb reproduce paper --out results/paper`` (or the console script ``mygo-reproduce``)
expands a sweep — a named preset (``quick``, ``paper``, ``beyond``: JSON files in
``mygo_nb/reproduce/presets/``) or a spec file of the same shape (JSON, or YAML) — into runs, executes each
run's notebook (by default ``run_one.ipynb``, shipped in ``mygo_nb/reproduce/notebooks/``, so it works from an
installed wheel and any folder) with papermill, and writes, per run, named from its parameters::

    split-mnist__mygo-reference__paper__eval-train__seed0.ipynb       the executed notebook
    split-mnist__mygo-reference__paper__eval-train__seed0.json        its RunResult
    split-mnist__mygo-reference__paper__eval-train__seed0.sweep.json  status, content hash, error, timing

plus ``sweep-manifest.json`` (every run of every sweep into that folder, updated under a file lock),
``summary.md`` / ``summary.csv`` (mean ± std over seeds beside the paper's numbers) and ``figures/*.png``.

Scenarios: a grid block's ``scenario`` (``task`` — the default and the paper's —, ``domain`` or ``class``;
`mygo_nb.core.scenarios`) is injected into the notebook and appears in the run's name, after the profile, only
when it is not ``task``: ``split-mnist__ewc__paper__class__eval-test__seed0``. Task-scenario runs keep the
names and parameters they had before scenarios existed (``scenario`` is not among them), so their content
hash changes only with the notebook's cells.
A method in a scenario it does not support (`mygo_nb.learners.check_method`) is a spec error. When any
result is in another scenario or carries a storage account, ``summary.md`` ends with a section
"Methods × scenarios": average accuracy per method (rows) and scenario (columns), and the storage per task.

Nothing lost, nothing redone: a run is complete when its ``.sweep.json`` says ``done`` with the same
content hash (notebook cells + parameters) and its result JSON exists; a rerun skips it. Every file is
written atomically, each run holds a per-run file lock while it executes (two sweeps into one folder
never execute the same run twice, nor lose each other's records), a failed run is recorded with its
error and executed notebook while the others go on, and the command exits 1 when any run failed.

Executors: ``--executor local --workers N`` (N worker processes, default 1) or ``--executor dask``:
each run is one Dask task; a run whose device is ``cuda`` claims the worker resource ``GPU: 1``. With
no ``--scheduler`` a ``LocalCluster`` bound to 127.0.0.1 is started (each worker gets one ``GPU``
slot). On a SLURM or PBS cluster start a scheduler and GPU workers with dask-jobqueue, e.g. in a script::

    from dask_jobqueue import SLURMCluster          # PBSCluster for PBS

    if __name__ == "__main__":                      # process-based workers re-import the script
        cluster = SLURMCluster(cores=4, memory="16GB", walltime="02:00:00",
                               job_extra_directives=["--gres=gpu:1"],
                               worker_extra_args=["--resources", "GPU=1"])
        cluster.scale(jobs=4)
        print(cluster.scheduler_address)            # pass it as --scheduler tcp://HOST:PORT
        input("press Enter to stop the cluster")

then ``mygo-reproduce paper --out /shared/results --executor dask --device cuda --scheduler tcp://HOST:PORT``
(workers and the driver need the same environment and a shared file system for the output folder).
"""
