"""`pcfm.base.parallel`: tasks in worker processes, in order, with their errors and deaths."""

from __future__ import annotations

import os

import pytest

from pcfm.base.parallel import WorkerProcessError, parallel_map, worker_count

pytestmark = pytest.mark.unit


def _square_or_fail(value: int) -> int:
    if value < 0:
        raise ValueError(f"negative: {value}")
    return value * value


def _pid(_: int) -> int:
    return os.getpid()


def _die(value: int) -> int:
    if value == 3:
        os._exit(1)
    return value


def test_results_come_back_in_the_order_of_the_tasks():
    values = list(range(40))
    assert parallel_map(_square_or_fail, values, workers=2) == [v * v for v in values]
    assert parallel_map(_square_or_fail, values, workers=1) == [v * v for v in values]
    assert parallel_map(_square_or_fail, [], workers=2) == []


def test_tasks_run_in_other_processes_and_one_worker_runs_here():
    assert os.getpid() not in parallel_map(_pid, range(4), workers=2)
    assert set(parallel_map(_pid, range(4), workers=1)) == {os.getpid()}


def test_a_task_error_is_raised_here_as_itself():
    with pytest.raises(ValueError, match="negative: -2"):
        parallel_map(_square_or_fail, [1, -2, 3], workers=2)


def test_a_dead_worker_is_a_clear_error_and_the_next_call_gets_a_new_pool():
    with pytest.raises(WorkerProcessError, match="worker process died"):
        parallel_map(_die, range(6), workers=2)
    assert parallel_map(_square_or_fail, [2, 3], workers=2) == [4, 9]


def test_worker_count_is_the_usable_cores_at_most_eight():
    assert 1 <= worker_count() <= min(8, os.cpu_count() or 1)
