"""Watching the order of fsyncs and renames, for the tests of what a crash may leave behind."""

from __future__ import annotations

import os
from typing import Any

import pytest


def record_fsyncs_and_renames(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """From now on, every `os.fsync` (as the path of its descriptor) and `os.replace` (its destination) is
    appended to the list returned, in order, and still done."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append(("rename", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events
