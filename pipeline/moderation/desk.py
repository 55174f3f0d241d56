"""Reviewing in the app: the queue's claim, skip and decide for a signed-in user, each checked against the
user's role here, in the call path (a hidden button is not a check), and written to the access audit log,
refusals included. The CLI uses the queue directly: whoever runs it already holds the data dir."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pipeline.access.audit import Action, AuditLog, Outcome
from pipeline.access.auth import Permission, User, require
from pipeline.errors import PermissionDenied
from pipeline.moderation.queue import QueueItem, ReviewQueue, State


@dataclass
class ReviewDesk:
    queue: ReviewQueue
    audit: AuditLog
    user: User | None
    reviewer: str  # the signed-in name; typed in only when access control is off

    def claim_next(
        self, *, state: State | str = State.PENDING, category: str | None = None, skip: Collection[int] = ()
    ) -> QueueItem | None:
        self._allow(Permission.MODERATE, "claim")
        return self.queue.claim_next(self.reviewer, state=state, category=category, skip=skip)

    def release(self, item_id: int) -> None:
        self._allow(Permission.MODERATE, "skip", item=item_id)
        self.queue.release(item_id, self.reviewer)

    def decide(self, item_id: int, state: State | str, note: str = "") -> QueueItem:
        """Decide and audit; removing content is also a destructive action and needs that permission too."""
        self._allow(Permission.MODERATE, "decide", item=item_id, to=str(state))
        if state == State.REMOVED:
            self._allow(Permission.DESTRUCTIVE, "decide", item=item_id, to=str(state))
        item = self.queue.decide(item_id, state, self.reviewer, note)
        decided = self.queue.audit_log(item_id)[-1]
        self.audit.record(
            Action.DECISION,
            user=self.user,
            item=item_id,
            reviewer=self.reviewer,
            from_state=decided.from_state.value,
            to_state=decided.to_state.value,
            note=note,
        )
        return item

    def _allow(self, permission: Permission, step: str, **detail: object) -> None:
        try:
            require(self.user, permission)
        except PermissionDenied as error:
            self.audit.record(
                Action.DECISION,
                user=self.user,
                actor=self.reviewer,
                outcome=Outcome.REFUSED,
                step=step,
                reason=str(error),
                **detail,
            )
            raise
