"""A kernel kept running for one notebook after another, with a watchdog on every call.

Starting a kernel and importing pandas, statsmodels and pcfm into it costs seconds, so a run
starts few: one for its stage notebooks (`pcfm.pipeline.run.SharedKernel`) and a few for the
practice statements (`pcfm.report.statements`). A :class:`LiveKernel` is started once in the
run folder; papermill then executes each notebook in it through an engine of its own
(:class:`LiveKernelEngine`), after the kernel is put back in the state it started in
(`pcfm.base.fresh_state`), so a notebook's cells and outputs are the same, byte for byte,
whatever ran in the kernel before.

**Watchdog.** Every call on the kernel (start, reset, a notebook) runs on a daemon thread of
the kernel's own, where its client lives on that thread's event loop, while the caller waits
at most the call's limit (`pcfm.params.timeouts`). A kernel that does not answer in time is
killed and the call raises :class:`KernelTimeout`, naming what was running and the limit's
parameter, even when the thread talking to the kernel is blocked for good: a kernel that
half-started once held a run for 22 minutes in a ZMQ send inside ``kernel_info``. Such a
thread is abandoned; as a daemon it does not keep the process alive.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import papermill
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import Engine, papermill_engines
from papermill.log import logger as papermill_logger

from pcfm.base.kernels import RunKernelManager

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Attempts to start a kernel: over TCP another process can take the port jupyter_client
#: picked for a kernel before the kernel binds it, and the kernel then dies on start-up.
KERNEL_START_ATTEMPTS = 3
#: Keeps a kernel's own start-up messages out of the run's output.
KERNEL_QUIET = "--IPKernelApp.log_level=CRITICAL"
#: Arguments of every reused kernel: quiet, and its history in memory (as nbclient's).
KERNEL_ARGUMENTS = [KERNEL_QUIET, "--HistoryManager.hist_file=:memory:"]
#: Run in a kernel as it starts: what `pcfm.base.fresh_state.restore` puts back.
SAVE_STATE = "import pcfm.base.fresh_state as _fresh_state; _fresh_state.save(); del _fresh_state"
#: Run in a kernel before each notebook.
RESTORE_STATE = "from pcfm.base import fresh_state; fresh_state.restore()"
#: Seconds a kernel is given to shut down and its client to close (less once it was killed).
SHUTDOWN_S = 20.0
KILLED_SHUTDOWN_S = 5.0
#: The name :class:`LiveKernelEngine` is registered under with papermill.
LIVE_KERNEL_ENGINE = "pcfm_live_kernel"


class KernelTimeout(RuntimeError):
    """A kernel that did not answer within its limit; it has been killed."""

    def __init__(self, what: str, seconds: float, setting: str) -> None:
        self.what, self.seconds, self.setting = what, seconds, setting
        super().__init__(
            f"{what} did not finish within {seconds:g} s ({setting}); its kernel was stopped"
        )


def is_kernel_start_failure(error: BaseException) -> bool:
    """Whether an error is a kernel that died starting (worth a retry), not a notebook error."""
    return isinstance(error, RuntimeError) and "Kernel died before replying" in str(error)


def execute_with_retries(execute: Callable[[], object]) -> None:
    """Run ``execute`` (starting a kernel, or a papermill call that starts one), retrying
    while the kernel dies starting."""
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        try:
            execute()
            return
        except RuntimeError as error:
            if attempt == KERNEL_START_ATTEMPTS or not is_kernel_start_failure(error):
                raise
            time.sleep(0.2 * attempt)


class LiveKernel:
    """A kernel started in a folder that executes one notebook after another.

    Args:
        cwd: The kernel's working directory (the run folder).
        start_limit_s: Seconds the kernel may take to start and answer, or to be reset
            before a notebook (``timeouts.kernel_start_s``).
        name: Names the kernel's thread.
    """

    def __init__(self, cwd: Path, start_limit_s: float = 120, name: str = "kernel") -> None:
        self.cwd = Path(cwd)
        self.start_limit_s = start_limit_s
        self.km: AsyncKernelManager | None = None
        self.kc: AsyncKernelClient | None = None
        self._killed = False
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future] | None]
        self._calls = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"pcfm-{name}", daemon=True)
        self._thread.start()

    # The kernel's thread -----------------------------------------------------------------

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as error:  # handed to the caller's thread, which raises it
                future.set_exception(error)

    def _call(
        self,
        call: Callable[[], T],
        limit_s: float | None,
        what: str,
        setting: str,
        setting_s: float | None = None,
    ) -> T:
        """``call()`` on the kernel's thread; the kernel is killed if it takes over ``limit_s``.

        ``limit_s`` None waits as long as it takes; ``setting_s`` is the parameter's value, if
        ``limit_s`` is a multiple of it.
        """
        if self._killed:
            raise RuntimeError(f"{what}: its kernel was stopped")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._calls.put((call, future))
        try:
            done, _ = concurrent.futures.wait([future], timeout=limit_s)
        except BaseException:  # Ctrl-C while waiting: the kernel stops with the run
            self.kill()
            raise
        if not done:
            self.kill()
            raise KernelTimeout(what, setting_s or limit_s or 0, setting)
        try:
            return future.result()
        except TimeoutError:  # the client's own limit, met first: the same failure
            self.kill()
            raise KernelTimeout(what, setting_s or limit_s or 0, setting) from None

    # What callers use --------------------------------------------------------------------

    def start(self) -> None:
        """Start the kernel and record its state, retrying a kernel that died starting."""
        limit = self.start_limit_s
        self._call(
            lambda: execute_with_retries(self._start_once),
            limit * KERNEL_START_ATTEMPTS,  # each attempt may take the limit
            "the kernel starting",
            "timeouts.kernel_start_s",
            setting_s=limit,
        )

    def run_silently(self, code: str, what: str = "resetting the kernel") -> None:
        """Execute ``code`` in the kernel outside any notebook: no output, no history."""
        self._call(
            lambda: self._run_silently(code), self.start_limit_s, what, "timeouts.kernel_start_s"
        )

    def execute_notebook(
        self,
        source: Path,
        output: Path,
        parameters: dict[str, Any],
        limit_s: float | None,
        what: str,
        setting: str,
        **papermill_options: Any,
    ) -> None:
        """Execute one notebook with papermill, from the state the kernel started in.

        Raises:
            KernelTimeout: the kernel did not reset within ``timeouts.kernel_start_s`` or the
                notebook did not finish within ``limit_s`` (the parameter ``setting``; None
                for no limit).
            papermill.PapermillExecutionError: a cell raised.
        """
        self.run_silently(RESTORE_STATE, f"{what}: resetting its kernel")
        self._call(
            lambda: papermill.execute_notebook(
                str(source),
                str(output),
                parameters=parameters,
                engine_name=LIVE_KERNEL_ENGINE,
                kernel=self,
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                **papermill_options,
            ),
            limit_s,
            what,
            setting,
        )

    def kill(self) -> None:
        """Kill the kernel process now (from any thread); the kernel cannot be used again."""
        self._killed = True
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):  # already ended
                os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))

    def shutdown(self) -> None:
        """Stop the kernel, close the client and end the thread, waiting a bounded time."""
        limit = KILLED_SHUTDOWN_S if self._killed else SHUTDOWN_S
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._calls.put((self._shutdown_on_thread, future))
        self._calls.put(None)
        done, _ = concurrent.futures.wait([future], timeout=limit)
        if not done:
            self.kill()
            log.debug("%s: abandoned, its thread did not answer", self._thread.name)

    # On the kernel's thread --------------------------------------------------------------

    def _start_once(self) -> None:
        if self._killed:  # the watchdog gave up on this kernel while it was retried
            raise RuntimeError("the kernel was stopped")
        km = RunKernelManager(kernel_name="python3")  # IPC in the run's kernel folder
        self.km = km
        run_sync(km.start_kernel)(cwd=str(self.cwd), extra_arguments=KERNEL_ARGUMENTS)
        kc = km.client()
        kc.start_channels()
        self.kc = kc
        try:
            run_sync(kc.wait_for_ready)(timeout=self.start_limit_s)
        except RuntimeError as error:
            self._shutdown_on_thread()
            if "didn't respond" in str(error):  # jupyter_client's own limit
                raise TimeoutError(str(error)) from None
            raise
        except BaseException:
            self._shutdown_on_thread()
            raise
        kc.allow_stdin = False
        self._run_silently(SAVE_STATE)

    def _run_silently(self, code: str) -> None:
        if self.kc is None:
            raise RuntimeError("the kernel is not running")
        reply = run_sync(self.kc.execute_interactive)(
            code,
            silent=True,
            store_history=False,
            timeout=self.start_limit_s,
            output_hook=lambda message: None,
        )
        content = reply["content"]
        if content["status"] != "ok":
            raise RuntimeError(
                f"kernel: {code!r} failed: {content.get('ename')}: {content.get('evalue')}"
            )

    def _shutdown_on_thread(self) -> None:
        kc, km, self.kc, self.km = self.kc, self.km, None, None
        if kc is not None:
            kc.stop_channels()
        if km is not None:
            try:
                if run_sync(km.is_alive)():
                    run_sync(km.shutdown_kernel)(now=True)
            finally:
                run_sync(km.cleanup_resources)()


class LiveKernelEngine(Engine):
    """A papermill engine executing in a :class:`LiveKernel` already running.

    Papermill's own nbclient engine, except that the kernel is neither started nor shut
    down: its ``kernel`` argument is the kernel to use.
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        kernel: LiveKernel | None = None,
        **kwargs,
    ):
        """Execute the managed notebook's cells in ``kernel``."""
        if kernel is None or kernel.km is None or kernel.kc is None:
            raise RuntimeError("LiveKernelEngine needs a running LiveKernel as kernel=")
        client = PapermillNotebookClient(
            nb_man,
            km=kernel.km,
            kernel_name=kernel_name,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            log=papermill_logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        client.kc = kernel.kc  # the kernel's client: nbclient then neither starts nor stops it
        return client.execute()


papermill_engines.register(LIVE_KERNEL_ENGINE, LiveKernelEngine)
