"""Plays the EventBridge rule: while the rule is enabled in moto, the idle-check Lambda runs on a timer.

The rule's own schedule is in minutes; locally the period is ``every_seconds`` so a short idle time is
noticed quickly. ``fire()`` runs one check now, as a scheduled event would.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .aws import ACCOUNT_ID, REGION


class IdleTimer:
    def __init__(
        self, *, events: Any, rule_name: str, invoke: Callable[[dict[str, Any]], Any], every_seconds: float
    ) -> None:
        self._events = events
        self._rule_name = rule_name
        self._invoke = invoke
        self._every_seconds = every_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # One scheduled event at a time, as the rule sends them; invocations that do overlap (a duplicate
        # delivery, a direct invoke) are kept apart by the function's own run lock, as on AWS.
        self._firing = threading.Lock()
        self.fired = 0
        self.errors = 0

    def enabled(self) -> bool:
        return self._events.describe_rule(Name=self._rule_name)["State"] == "ENABLED"

    def scheduled_event(self) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{self._rule_name}"],
            "detail": {},
        }

    def fire(self) -> Any:
        with self._firing:
            self.fired += 1
            return self._invoke(self.scheduled_event())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="idle-timer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._every_seconds):
            try:
                if self.enabled():
                    self.fire()
            except Exception:
                # A failed run is retried at the next tick, as EventBridge's next schedule would.
                self.errors += 1

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
