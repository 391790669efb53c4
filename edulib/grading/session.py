"""Talking to the grading child: one sandboxed base process per thread, reused across
notebooks, and a :class:`Session` per notebook (a zygote the base forks), which sends item
requests and reads the events back (JSON lines; see :mod:`edulib.grading.child`)."""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import threading
import time
from collections.abc import Sequence
from typing import Any

from .sandbox import Limits, start_child

__all__ = ["Session"]


class _Base:
    """The sandboxed base process of this thread (imports done once, reused by notebooks)."""

    def __init__(self, limits: Limits, startup_timeout: float) -> None:
        self.proc, self.root, self._host_dir = start_child(limits)
        self.limits, self._buf = limits, b""
        if not _events(self, time.monotonic() + startup_timeout, "base_ready"):
            self.close()
            raise RuntimeError("the grading child did not start (see `python -m edulib.grading "
                               "doctor`)")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            pass
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        shutil.rmtree(self._host_dir, ignore_errors=True)


_BASES = threading.local()
_STARTED: list[_Base] = []


def _base(limits: Limits, startup_timeout: float) -> _Base:
    base = getattr(_BASES, "base", None)
    if base is None or not base.alive() or base.limits != limits:
        if base is not None:
            base.close()
        base = _BASES.base = _Base(limits, startup_timeout)
        _STARTED.append(base)
    return base


@atexit.register
def _close_bases() -> None:
    for base in _STARTED:
        base.close()


def _events(src: _Base, deadline: float, until: str) -> list[dict[str, Any]]:
    """Events read from ``src.proc`` until the grader-level event ``until`` (or the deadline)."""
    fd = src.proc.stdout.fileno()
    out: list[dict[str, Any]] = []
    while True:
        while b"\n" in src._buf:
            line, src._buf = src._buf.split(b"\n", 1)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            out.append(event)
            if event.get("event") == until and not event.get("child"):
                return out
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return out
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return out
        src._buf += chunk


class Session:
    """One notebook's zygote, forked by the base: ``request`` sends an item, returns its events."""

    def __init__(self, prelude: list[tuple[int, str]], deny_read: Sequence[str], limits: Limits,
                 startup_timeout: float) -> None:
        self.base = _base(limits, startup_timeout)
        self.proc = self.base.proc
        cfg = {"prelude": prelude, "root": self.base.root, "deny_read": list(deny_read)}
        self._send(cfg)
        ready = self._events(time.monotonic() + startup_timeout, until="ready")
        if not ready or ready[-1].get("event") != "ready":
            self.base.close()
            raise RuntimeError("the grading child did not start (see `python -m edulib.grading "
                               "doctor`)")
        self.prelude = {int(k): v for k, v in ready[-1].get("prelude", {}).items()}

    def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def _events(self, deadline: float, until: str) -> list[dict[str, Any]]:
        return _events(self.base, deadline, until)

    def request(self, req: dict[str, Any], budget: float) -> list[dict[str, Any]]:
        self._send(req)
        events = self._events(time.monotonic() + budget, until="exit")
        if not events or events[-1].get("event") != "exit" or events[-1].get("child"):
            raise RuntimeError("the grading child stopped answering")
        return events

    def close(self) -> None:
        """End the notebook's zygote; the base stays for the next notebook."""
        try:
            self._send({"end": True})
            if not self._events(time.monotonic() + 30, until="ended"):
                raise RuntimeError("no answer")
        except Exception:  # noqa: BLE001 - a base that cannot go on is replaced next time
            self.base.close()
