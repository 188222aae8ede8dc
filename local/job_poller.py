"""Plays Lambda's SQS event source mapping: receives from the jobs queue and invokes the job runner.

As the mapping does with ``ReportBatchItemFailures``: a batch is one event of SQS records; the messages
the runner did not report as failed are deleted; those it reported (or a whole batch whose invocation
failed) come back once their visibility timeout ends, and the queue's redrive policy moves a message
received too often to the dead-letter queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .aws import REGION


def sqs_event(messages: list[dict[str, Any]], *, queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


class JobPoller:
    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        invoke: Callable[[dict[str, Any]], Any],
        batch_size: int,
        idle_seconds: float = 0.2,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self._invoke = invoke
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.errors = 0

    def poll_once(self) -> int:
        """Receive one batch and hand it to the runner; the number of messages received."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=self._batch_size, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return 0
        self.batches += 1
        try:
            answer = self._invoke(sqs_event(messages, queue_arn=self._queue_arn))
            failed = {item["itemIdentifier"] for item in (answer or {}).get("batchItemFailures", [])}
        except Exception:
            # A failed invocation leaves the whole batch to come back after its visibility timeout.
            self.errors += 1
            return len(messages)
        for message in messages:
            if message["MessageId"] not in failed:
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="job-poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                received = self.poll_once()
            except Exception:
                self.errors += 1
                received = 0
            if not received:
                self._stopping.wait(self._idle_seconds)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=90)
