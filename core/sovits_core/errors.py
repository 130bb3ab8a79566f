"""The domain's error hierarchy.

Code below the boundaries raises these; each boundary translates them once: the kopf
handlers into Permanent/TemporaryError, the REST facade into HTTP statuses, the step
runner into exit codes. Callers branch on ``code`` (stable), never on message text.
"""

from __future__ import annotations


class SovitsError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "internal"
    retryable = False

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(SovitsError):
    """The request or the data it points at can never succeed as given."""

    code = "invalid_input"


class UnknownStep(InvalidInput):
    code = "unknown_step"


class PrerequisiteMissing(SovitsError):
    """A step was requested before the steps it needs have completed."""

    code = "prerequisite_missing"

    def __init__(self, step: str, missing: list[str]) -> None:
        super().__init__(f"step {step} needs {', '.join(missing)} to complete first")
        self.step = step
        self.missing = missing


class TaskBusy(SovitsError):
    """A step is already running for this task."""

    code = "task_busy"


class NotFound(SovitsError):
    code = "not_found"


class Conflict(SovitsError):
    code = "conflict"


class StorageUnavailable(SovitsError):
    """The object store could not be reached; trying again later may work."""

    code = "storage_unavailable"
    retryable = True


class Retryable(SovitsError):
    """A transient failure: the same work may succeed on another attempt."""

    code = "retryable"
    retryable = True


class Terminated(Retryable):
    """The step was told to stop (SIGTERM: evicted, preempted or cancelled); it stops at once,
    without waiting for the transfers and decodes in flight."""

    code = "terminated"


class OutOfMemory(Retryable):
    """The GPU ran out of memory: a smaller batch may fit (the operator halves it)."""

    code = "out_of_memory"
