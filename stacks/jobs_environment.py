"""Queued predictions' environment and limits, one way for AWS and for the local stack.

No aws_cdk import, as ``stacks/lambda_environment.py``: ``stacks/job_queue.py`` sets these on the
deployed functions and ``local/`` on its worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass

# The runner handles JOB_BATCH_SIZE messages per call, each at most one endpoint call (about 20 s
# worst case, seqserve_common/clients.py) and a few control-plane calls.
JOB_RUNNER_TIMEOUT_SECONDS = 60
JOB_BATCH_SIZE = 2
# SQS's advice for a Lambda event source: visibility at least six times the function's timeout.
JOB_VISIBILITY_SECONDS = 6 * JOB_RUNNER_TIMEOUT_SECONDS


@dataclass(frozen=True, kw_only=True)
class JobRetry:
    """Backoff of a job waiting for its endpoint: first, doubling up to max, for max_attempts receives.

    The default waits about 37 minutes in all, past SageMaker's usual endpoint creation.
    """

    first_seconds: int = 10
    max_seconds: int = 60
    max_attempts: int = 40

    @property
    def dead_letter_after(self) -> int:
        """Receives before SQS moves a message to the dead-letter queue: more than the runner's bound,
        so the runner fails a job itself and only messages whose runs crashed outright get there."""
        return self.max_attempts + 3


def jobs_environment(*, table_name: str, bucket_name: str, queue_url: str, retry: JobRetry) -> dict[str, str]:
    """Variables for the invoker (the first three) and the job runner (all)."""
    return {
        "JOBS_TABLE": table_name,
        "JOBS_BUCKET": bucket_name,
        "JOBS_QUEUE_URL": queue_url,
        "JOB_RETRY_FIRST_SECONDS": str(retry.first_seconds),
        "JOB_RETRY_MAX_SECONDS": str(retry.max_seconds),
        "JOB_MAX_ATTEMPTS": str(retry.max_attempts),
    }
