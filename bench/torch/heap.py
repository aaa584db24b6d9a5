"""Process settings for the PyTorch baselines, applied by re-executing the script once.

glibc hands large blocks back to the OS after every step, so each step page-faults its
activations in again (3x slower training at these sizes). Keep them: the malloc settings
must be in the environment at process start, hence the re-exec, before torch is imported.
OpenMP threads that spin while waiting collapse throughput on a shared machine (3x-5x
measured with 2 threads on a loaded 2-core box), so they sleep instead
(OMP_WAIT_POLICY=PASSIVE) unless told otherwise.
"""
import os
import sys


def keep_heap():
    """Re-executes the running script with the malloc and OpenMP settings (once)."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    os.environ.update(MALLOC_MMAP_THRESHOLD_="4294967296", MALLOC_TRIM_THRESHOLD_="4294967296",
                      MALLOC_TOP_PAD_="268435456")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.execv(sys.executable, [sys.executable] + sys.argv)
