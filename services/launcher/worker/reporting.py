"""What a worker tells the engine about an attempt: ``AttemptReport`` on ``contrail.attempts``.

One attempt gets, in order: ``started`` once its process runs (with the
worker's id and the S3 prefix of its logs), a ``heartbeat`` every few seconds
while it runs, and exactly one terminal report (``succeeded``, ``failed``,
``timed_out`` or ``aborted``). Reports are keyed by the execution key, like
every message about an execution, and carry the dispatch's trace context.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from opentelemetry import trace

from services.launcher.worker.runner import AttemptResult
from shared.dispatch import ATTEMPTS, AttemptDispatch, AttemptReport, ReportKind
from shared.events.catalogue import ErrorKind, ExecutionError
from shared.phases import TaskAttemptPhase
from shared.telemetry import context_from_traceparent

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("contrail.worker")

OOM_CODE = "OOMKilled"
BUNDLE_UNAVAILABLE = "BundleUnavailable"

_TERMINAL_KINDS = {
    TaskAttemptPhase.SUCCEEDED: ReportKind.SUCCEEDED,
    TaskAttemptPhase.FAILED: ReportKind.FAILED,
    TaskAttemptPhase.TIMED_OUT: ReportKind.TIMED_OUT,
    TaskAttemptPhase.ABORTED: ReportKind.ABORTED,
}


def report(
    dispatch: AttemptDispatch, worker_id: str, kind: ReportKind, **fields: Any
) -> AttemptReport:
    """A report about ``dispatch``'s attempt, carrying its trace context."""
    return AttemptReport(
        kind=kind,
        execution=dispatch.execution,
        node_path=dispatch.node_path,
        attempt=dispatch.attempt,
        worker_id=worker_id,
        traceparent=dispatch.traceparent,
        **fields,
    )


@dataclass(frozen=True)
class StoredOutputs:
    """Outputs as the terminal report carries them: inline, or by URI when large."""

    inline: dict[str, Any] | None = None
    uri: str | None = None


def outputs_json(outputs: dict[str, Any]) -> bytes:
    return json.dumps(outputs, separators=(",", ":")).encode()


def terminal_report(
    dispatch: AttemptDispatch,
    worker_id: str,
    result: AttemptResult,
    log_uri: str | None,
    outputs: StoredOutputs | None = None,
) -> AttemptReport:
    """The one report that ends an attempt, from the runner's result."""
    kind = _TERMINAL_KINDS.get(result.phase)
    if kind is None:  # the runner promises a terminal phase; never report a non-terminal one
        kind = ReportKind.FAILED
    error = result.error
    if kind is ReportKind.FAILED and error is None:
        error = ExecutionError(
            kind=ErrorKind.SYSTEM,
            code="WorkerError",
            message=f"the attempt ended {result.phase} without an error",
        )
    if error is not None:
        error = bounded_error(error)
    stored = outputs or StoredOutputs()
    return report(
        dispatch,
        worker_id,
        kind,
        outputs=stored.inline if kind is ReportKind.SUCCEEDED else None,
        outputs_uri=stored.uri if kind is ReportKind.SUCCEEDED else None,
        error=None if kind is ReportKind.SUCCEEDED else error,
        oom=error is not None and error.code == OOM_CODE,
        usage=result.usage,
        log_uri=log_uri,
    )


ERROR_TEXT_LIMIT = 16 * 1024
"""Characters of an error's message, and of its traceback tail, that a report carries."""


def bounded_error(error: ExecutionError, limit: int = ERROR_TEXT_LIMIT) -> ExecutionError:
    """``error`` with its message and traceback tail cut to ``limit`` characters each.

    A task may raise with a message of any size; the report (a Kafka record)
    and the events it leads to may not. The full text is in the attempt's
    stderr log.
    """

    def cut(text: str, keep_end: bool) -> str:
        if len(text) <= limit:
            return text
        note = f" [... {len(text) - limit} characters cut; the full text is in stderr]"
        kept = text[-limit:] if keep_end else text[:limit]
        return f"{note.strip()}\n{kept}" if keep_end else kept + note

    tail = error.traceback_tail
    return error.model_copy(
        update={
            "message": cut(error.message, keep_end=False),
            "traceback_tail": cut(tail, keep_end=True) if tail is not None else None,
        }
    )


def bundle_unavailable(dispatch: AttemptDispatch, worker_id: str, message: str) -> AttemptReport:
    """The attempt never started: its code bundle can't be had (a SYSTEM error)."""
    return report(
        dispatch,
        worker_id,
        ReportKind.FAILED,
        error=ExecutionError(kind=ErrorKind.SYSTEM, code=BUNDLE_UNAVAILABLE, message=message),
    )


class Reporter:
    """Publishes reports to ``contrail.attempts`` through the worker's (idempotent) producer."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, message: AttemptReport) -> None:
        """Send one report and wait until Kafka has it (all replicas)."""
        # The broker's telemetry sets the record's traceparent from the current
        # span: make that a child of the report's own, so one trace follows the attempt.
        with _tracer.start_as_current_span(
            f"report {message.kind}", context=context_from_traceparent(message.traceparent)
        ):
            await self._broker.publish(
                message.to_json(),
                ATTEMPTS,
                key=message.execution.key.encode(),
                headers={"content-type": "application/json"},
            )
