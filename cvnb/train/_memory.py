"""Memory of one training step: peak resident memory on the CPU, peak allocation on CUDA."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import warnings
from pathlib import Path

import torch

_MB = 2**20
#: Linux only: writing 5 here resets the process's peak resident size (VmHWM).
_PROC_PEAK = Path("/proc/self/clear_refs")


class CpuMeter:
    """Peak resident memory of this process during a call, minus the resident memory at start.

    Linux: the kernel's exact peak (``VmHWM``, reset before each step through
    ``/proc/self/clear_refs``). Elsewhere (macOS, Windows): the resident size sampled every
    millisecond by a thread during the step (``psutil``), which can miss a peak shorter than
    that. Without ``psutil`` memory is not measured (a warning says so): every size is run,
    and only its speed is reported.
    """

    extrapolates = True

    def __init__(self):
        self.source = "proc" if _PROC_PEAK.exists() else "psutil" if _psutil() else "none"
        if self.source == "none":
            self.extrapolates = False
            warnings.warn(
                "cannot measure CPU memory here (no Linux /proc and no psutil): "
                "find_batch_size reports speed only; pip install psutil to measure memory",
                RuntimeWarning,
                stacklevel=3,
            )
        self._trim = _malloc_trim()
        self._trim()
        self.base = self._rss_mb()

    def default_budget(self) -> float:
        """Half the memory available now, in MiB (infinite when it cannot be read)."""
        meminfo = Path("/proc/meminfo")
        if meminfo.exists():
            for line in meminfo.read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024 / 2
        psutil = _psutil()
        if psutil is not None:
            return psutil.virtual_memory().available / _MB / 2
        return float("inf")

    def peak(self, step, *args) -> float:
        self._trim()  # memory freed by the last step goes back to the OS, so it is not reused
        if self.source == "proc":
            _PROC_PEAK.write_text("5")  # resets VmHWM to the current VmRSS
            step(*args)
            return _status_kb("VmHWM") / 1024 - self.base
        if self.source == "none":
            step(*args)
            return float("nan")
        return _sampled_peak(step, args) - self.base

    def _rss_mb(self) -> float:
        if self.source == "proc":
            return _status_kb("VmRSS") / 1024
        if self.source == "psutil":
            return _psutil().Process().memory_info().rss / _MB
        return 0.0

    def release(self) -> None:
        pass


def _psutil():
    try:
        import psutil
    except ImportError:
        return None
    return psutil


def _sampled_peak(step, args, interval: float = 0.001) -> float:
    """Largest resident size (MiB) seen while ``step(*args)`` runs, polled by a thread."""
    process = _psutil().Process()
    peak = [process.memory_info().rss]
    done = threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            done.wait(interval)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        step(*args)
    finally:
        done.set()
        thread.join()
    return max(peak[0], process.memory_info().rss) / _MB


class CudaMeter:
    """Peak allocated CUDA memory during a call; out-of-memory is 'does not fit'."""

    extrapolates = False

    def __init__(self, device: torch.device):
        self.device = device

    def default_budget(self) -> float:
        free, _ = torch.cuda.mem_get_info(self.device)
        return 0.9 * free / _MB

    def peak(self, step, *args) -> float | None:
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        out_of_memory = False
        try:
            step(*args)
            torch.cuda.synchronize(self.device)
        except torch.cuda.OutOfMemoryError:
            out_of_memory = True
        if out_of_memory:  # outside the handler: the traceback no longer holds the tensors
            torch.cuda.empty_cache()
            return None
        return (torch.cuda.max_memory_allocated(self.device) - base) / _MB

    def release(self) -> None:
        torch.cuda.empty_cache()


def _malloc_trim():
    """glibc's ``malloc_trim(0)``: give freed heap memory back to the OS (a no-op elsewhere).

    Without it, memory that glibc keeps after an earlier, larger allocation is reused without
    growing the resident size, and a later measurement would read near zero.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return lambda: libc.malloc_trim(0)
    except (OSError, AttributeError):
        return lambda: None


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status")
