"""Requests as jobs: queued, run one at a time on a worker thread, watched and cancelled by id.

Each job has an unguessable id; a page only ever asks about the ids it was given, so two
browser tabs never see each other's results. One worker runs the jobs in order (schemes keep
per-call state and the machine has few cores); a job reports progress through
:meth:`Job.report`, which also raises :class:`~genjscc.app.work.Cancelled` once the user has
asked to stop, so long work (an inversion, a curve) ends at its next step.
"""

from __future__ import annotations

import queue
import secrets
import sys
import threading
import time
import traceback
from collections import OrderedDict
from typing import Callable

from genjscc.app.work import Cancelled

__all__ = ["Job", "JobBoard"]

FINISHED = ("done", "failed", "cancelled")


class Job:
    """One request's state: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``."""

    def __init__(self, kind: str, work: Callable[["Job"], dict]):
        self.id = secrets.token_urlsafe(16)
        self.kind, self.work = kind, work
        self.state, self.done, self.total, self.message = "queued", 0, 0, "waiting for earlier requests"
        self.result: dict | None = None
        self.error: str | None = None
        self.version = 0  # bumped on every change; watchers wait for a version they have not seen
        self.submitted = time.time()
        self._changed = threading.Condition()
        self._cancel = threading.Event()

    def _update(self, **fields) -> None:
        with self._changed:
            for name, value in fields.items():
                setattr(self, name, value)
            self.version += 1
            self._changed.notify_all()

    def report(self, done: int, total: int, message: str) -> None:
        """Progress from the work; raises :class:`Cancelled` when a cancel was asked for."""
        self._update(done=done, total=total, message=message)
        if self._cancel.is_set():
            raise Cancelled()

    def cancel(self) -> None:
        self._cancel.set()
        if self.state == "queued":
            self._update(message="cancelling")

    def snapshot(self) -> dict:
        with self._changed:
            return {"id": self.id, "kind": self.kind, "state": self.state, "done": self.done, "total": self.total,
                    "message": self.message, "result": self.result, "error": self.error, "version": self.version}

    def wait(self, after: int, timeout: float) -> dict:
        """The snapshot once ``version > after`` or the job has finished, or after ``timeout`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self.version > after or self.state in FINISHED, timeout=timeout)
        return self.snapshot()

    def run(self) -> None:
        if self._cancel.is_set():
            self._update(state="cancelled", message="cancelled before it started")
            return
        self._update(state="running", message="starting")
        try:
            result = self.work(self)
        except Cancelled:
            self._update(state="cancelled", message="cancelled")
        except ValueError as exc:  # the user's choices cannot work (DataError, size checks, a diverged model)
            self._update(state="failed", error=str(exc), message="failed")
        except Exception as exc:  # a bug: keep the server up, show the error, print the traceback
            traceback.print_exc(file=sys.stderr)
            self._update(state="failed", error=f"internal error ({type(exc).__name__}: {exc}); see the server's log",
                         message="failed")
        else:
            self._update(state="done", result=result, message="done")


class JobBoard:
    """Jobs by id, run in submission order by one worker thread; the newest ``keep`` are remembered."""

    def __init__(self, keep: int = 64):
        self.keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="genjscc-app-worker", daemon=True)
        self._worker.start()

    def submit(self, kind: str, work: Callable[[Job], dict]) -> Job:
        job = Job(kind, work)
        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.state in FINISHED]
            for old in finished[: max(0, len(self._jobs) - self.keep)]:
                del self._jobs[old.id]
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def close(self) -> None:
        """Cancel what is queued or running and stop the worker after the current step."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel()
        self._queue.put(None)
        self._worker.join(timeout=30)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job.run()
