"""How a run starts its Jupyter kernels: over IPC in a folder of its own, output to the log.

Every notebook of a run (the stage notebooks and the practice statements) is executed by
papermill in a kernel started by :class:`RunKernelManager` (papermill passes
``kernel_manager_class`` on to nbclient).

**Ports.** jupyter_client's TCP transport picks a kernel's five ports by binding port 0 and
letting go; the kernel binds them a moment later, and in between another process (a second
``pcfm run``, any program) can take one, so the kernel dies starting. Over the IPC transport
a kernel listens on Unix domain sockets named after its connection file instead, and inside
:func:`run_kernels` every kernel's connection file has a name of its own in a folder of the
run's own (mode 0700: the file holds the kernel's key), so two runs, or two kernels of one
run, cannot collide. Where IPC is unavailable (Windows, or a temporary folder whose path is
too long for a socket address) the kernels use TCP, with their connection files in the same
folder, and the retries of `pcfm.base.live_kernel.execute_with_retries` cover the race.

**Noise.** A kernel's own standard output and error (ipykernel's log, such as
``KeyboardInterrupt caught in kernel`` at shutdown, or the ZMQ traceback of a kernel that
died starting and was retried) would otherwise be written straight to the terminal of
``pcfm run``. Each kernel writes them to a file of its own instead; once the kernel has
ended they are logged at debug level (logger ``pcfm.base.kernels``), so they reach the run's
log (``run.log``) and the terminal only with ``--verbose``. What a notebook prints is not
affected: ipykernel sends that to the notebook's outputs.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import zmq
from jupyter_client.manager import AsyncKernelManager

log = logging.getLogger(__name__)

Transport = Literal["ipc", "tcp"]

#: The longest socket path used: shorter than every OS's limit (Linux 107 bytes, macOS 103).
MAX_SOCKET_PATH = 100
#: A kernel's connection file is ``kernel-<8 hex digits>.json`` and its sockets are
#: ``kernel-<8 hex digits>-ipc-<1..5>`` beside it; this is the longest of those names.
LONGEST_SOCKET_NAME = "kernel-00000000-ipc-5"


@dataclass(frozen=True)
class KernelFolder:
    """Where a run's kernels keep their connection files, and how they connect."""

    path: Path
    transport: Transport


def ipc_transport_available(folder: Path) -> bool:
    """Whether kernels with connection files in ``folder`` can use IPC sockets."""
    if not zmq.has("ipc"):  # libzmq on Windows
        return False
    return len(os.fsencode(folder / LONGEST_SOCKET_NAME)) <= MAX_SOCKET_PATH


_lock = threading.Lock()
_current: KernelFolder | None = None


def current_kernel_folder() -> KernelFolder | None:
    """The kernel folder of the run in progress in this process, if any."""
    return _current


@contextmanager
def run_kernels(transport: Transport | None = None) -> Iterator[KernelFolder]:
    """A fresh private folder for the kernels started meanwhile; removed afterwards.

    Args:
        transport: Force ``"ipc"`` or ``"tcp"``; by default IPC where it is available.
    """
    global _current
    path = Path(tempfile.mkdtemp(prefix="pcfm-kernels-"))
    chosen: Transport = transport or ("ipc" if ipc_transport_available(path) else "tcp")
    folder = KernelFolder(path, chosen)
    log.debug("kernels connect over %s", chosen.upper())
    with _lock:
        previous, _current = _current, folder
    try:
        yield folder
    finally:
        with _lock:
            _current = previous
        shutil.rmtree(path, ignore_errors=True)


class RunKernelManager(AsyncKernelManager):
    """A kernel manager that uses the run's kernel folder and keeps the kernel's output.

    Inside :func:`run_kernels`, each kernel gets a connection file of its own name in the
    run's kernel folder and the folder's transport; outside it, jupyter_client's defaults.
    Either way the kernel process's standard output and error go to a temporary file,
    logged at debug level when the kernel has ended (:meth:`cleanup_resources`).
    """

    def __init__(self, **kwargs: Any) -> None:
        folder = current_kernel_folder()
        if folder is not None:
            kwargs.setdefault("transport", folder.transport)
            kwargs.setdefault(
                "connection_file", str(folder.path / f"kernel-{uuid.uuid4().hex[:8]}.json")
            )
        super().__init__(**kwargs)
        self._kernel_output: IO[bytes] | None = None

    @property
    def label(self) -> str:
        """How the log names this kernel: its connection file's name, without folder."""
        return Path(self.connection_file).stem if self.connection_file else "kernel"

    async def start_kernel(self, **kwargs: Any) -> None:  # type: ignore[override]
        """Start the kernel with its standard output and error going to a file."""
        if "stdout" not in kwargs and "stderr" not in kwargs:
            folder = current_kernel_folder()
            self._kernel_output = tempfile.TemporaryFile(  # noqa: SIM115 (closed when logged)
                prefix="kernel-output-", dir=folder.path if folder else None
            )
            kwargs["stdout"] = self._kernel_output
            kwargs["stderr"] = subprocess.STDOUT
        await super().start_kernel(**kwargs)
        log.debug("%s: started over %s", self.label, self.transport.upper())

    async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
        """Clean up as jupyter_client does, then log what the kernel process wrote."""
        await super().cleanup_resources(restart=restart)
        if not restart:
            self.log_kernel_output()

    def log_kernel_output(self) -> None:
        """Log each line the kernel process wrote at debug level (once; then forget it)."""
        output, self._kernel_output = self._kernel_output, None
        if output is None:
            return
        with output:
            output.seek(0)
            text = output.read().decode("utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                log.debug("%s: %s", self.label, line.rstrip())
