"""HiGHS through PuLP, quietly."""

from __future__ import annotations

import functools
import os
import sys

__all__ = ["silence_highs_banner"]


@functools.cache
def silence_highs_banner() -> None:
    """highspy prints its banner from C++ on the first ``Highs()`` of a process, before PuLP can set
    ``output_flag``; build that first one with the stdout file descriptor pointed at /dev/null."""
    import highspy

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # stdout is not a file (captured): nothing to hide
        return
    sys.stdout.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        highspy.Highs()
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
