"""Memory held by the process, not by its data."""

from __future__ import annotations


def release_heap() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``; nothing elsewhere).
    A fleet's packing frees many arrays below glibc's mmap threshold (which rises to 32 MB as large
    arrays are freed), whose pages otherwise stay resident: the run's RSS, not its live data, then
    sets its peak. Changes no value."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl): nothing to trim this way
        pass
