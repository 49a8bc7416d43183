"""Keeps each request on one core.

PyTorch and FAISS parallelise every operation with OpenMP, whose thread count is per calling thread:
setting it once in the main thread leaves the server's worker threads at the default, and dozens of
concurrent requests each starting OpenMP teams (whose idle workers spin) would oversubscribe the
cores many times over. :func:`one_thread_here` fixes it for the calling thread, once.
"""

from __future__ import annotations

import sys
import threading

import faiss

_local = threading.local()


def one_thread_here(torch_threads: int = 1) -> None:
    if getattr(_local, "set", False):
        return
    torch = sys.modules.get("torch")  # a server on exported artifacts never loads it
    if torch is not None:
        torch.set_num_threads(torch_threads)  # also sets this thread's OpenMP team size
    faiss.omp_set_num_threads(1)
    _local.set = True
