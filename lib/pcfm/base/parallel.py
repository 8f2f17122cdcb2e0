"""Independent pieces of a stage's work on every core, in worker processes.

Stage 02 refits the model some forty times (alternatives, held-out patient folds, practice
folds) and each fit is independent of the others; on the two-core machine the project is
sized for, doing them two at a time halves the stage. Python threads would not: most of a fit
holds the interpreter lock.

The workers are started by a *fork server*: a clean single-threaded process, forked from a
fresh interpreter that has imported :data:`PRELOAD`, forks each worker. Forking the caller
itself would copy a Jupyter kernel's threads' locks into every worker (Python 3.12 warns
that this may deadlock), and starting each worker from scratch would import pandas and
SciPy again (a second each). The pool is started on first use and kept for the life of the
process, so the stages run in one shared kernel (`pcfm.pipeline.run.SharedKernel`) start it
once; it holds no data between calls.

Results do not depend on the number of workers: every task is a pure function of its
arguments, the results come back in the order of the tasks, and each worker does its linear
algebra on one thread, as the run's own process does.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

__all__ = [
    "PARALLEL_FROM_CELLS",
    "PRELOAD",
    "WORKERS_VARIABLE",
    "WorkerProcessError",
    "parallel_map",
    "worker_count",
    "workers_for",
]

T = TypeVar("T")
R = TypeVar("R")

#: Modules the fork server imports once, so that no worker imports them again.
PRELOAD = ["pcfm.model.stage", "pcfm.allocation.bootstrap"]
#: At most this many workers, whatever the machine (beyond it, copying the tasks' data costs
#: more than the cores save at an ICB's scale).
MAX_WORKERS = 8

#: The environment variable that sets the number of workers (:func:`workers_for`).
WORKERS_VARIABLE = "PCFM_WORKERS"
#: From this many cells a stage's refits are spread over the cores (:func:`workers_for`).
PARALLEL_FROM_CELLS = 20_000

_pool: ProcessPoolExecutor | None = None
_pool_workers = 0


class WorkerProcessError(RuntimeError):
    """A worker process died (killed, or out of memory) before finishing its task."""


def worker_count() -> int:
    """The cores this process may use, at most :data:`MAX_WORKERS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


def workers_for(n_cells: int) -> int:
    """Processes for a stage's refits on ``n_cells`` cells: every core at an ICB's scale.

    On a few thousand cells the refits take about a second in all, less than starting the
    workers, so they run here; the results do not depend on the choice. The environment
    variable ``PCFM_WORKERS`` (a whole number, 1 = no worker processes) overrides both.
    """
    forced = os.environ.get(WORKERS_VARIABLE, "").strip()
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise ValueError(f"{WORKERS_VARIABLE} must be a whole number from 1; it is {forced!r}")
        return min(int(forced), MAX_WORKERS)
    return worker_count() if n_cells >= PARALLEL_FROM_CELLS else 1


def _shared_pool(workers: int) -> ProcessPoolExecutor:
    """The process's pool of ``workers`` workers, started (or restarted) when needed."""
    global _pool, _pool_workers
    if _pool is None or _pool_workers != workers:
        if _pool is not None:
            _pool.shutdown(wait=True)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        # one BLAS thread per worker: the workers are the parallelism
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        _pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        _pool_workers = workers
    return _pool


def _give_main_a_spec() -> None:
    """Starting a worker reads ``__main__.__spec__``; a Jupyter kernel's ``__main__`` is the
    user namespace, which loses it when the namespace is reset (`pcfm.base.fresh_state`).
    ``None`` is what an interactive interpreter has."""
    main = sys.modules.get("__main__")
    if main is not None and not hasattr(main, "__spec__"):
        main.__spec__ = None


def parallel_map(
    function: Callable[[T], R],
    items: Iterable[T],
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[R]:
    """``[function(item) for item in items]``, spread over ``workers`` processes.

    ``function`` must be a module-level function (or a ``functools.partial`` of one) and its
    items and results picklable. With one worker, or one item, it runs here, in this process.
    An exception raised by a task is raised here, as it would be in the loop.

    Args:
        function: The task.
        items: Its arguments, one per task.
        workers: Processes at once; :func:`worker_count` by default.
        on_done: Called with the number of tasks finished so far, as each one finishes (in
            the order of the tasks).

    Raises:
        WorkerProcessError: a worker died before finishing (the pool is restarted next time).
    """
    items = list(items)
    workers = min(workers or worker_count(), len(items))
    report = on_done or (lambda done: None)
    if workers <= 1:
        results = []
        for item in items:
            results.append(function(item))
            report(len(results))
        return results
    global _pool
    _give_main_a_spec()
    try:
        results = []
        for result in _shared_pool(workers).map(function, items):
            results.append(result)
            report(len(results))
        return results
    except BrokenProcessPool as error:
        _pool = None
        raise WorkerProcessError(
            f"a worker process died before finishing its task ({error}); the machine may be "
            "out of memory"
        ) from None
