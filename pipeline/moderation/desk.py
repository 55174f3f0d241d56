"""Reviewing in the app: the queue's claim, skip and decide for a signed-in user, each checked against the
user's role here, in the call path (a hidden button is not a check), and written to the access audit log,
refusals included. The page builds a desk for each action with the user as they are at that moment, so a
role changed or removed since the page was drawn applies to the next click.

A Remove decision removes the content too (pipeline.moderation.removal): the item is claimed, its assets and
upload file are deleted (audited as a destructive action, with what went), and only then is the decision
written. If deleting fails the item stays undecided and claimed, so the moderator can press Remove again;
deleting is idempotent. The CLI uses the queue (and, to remove, the same removal) without role checks:
whoever runs it already holds the data dir."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pipeline.access.audit import Action, AuditLog, Outcome
from pipeline.access.auth import Permission, User, require
from pipeline.errors import BadInput, PermissionDenied
from pipeline.moderation.queue import QueueItem, ReviewQueue, State
from pipeline.moderation.removal import ContentRemover, Removed, remove_queued_content


@dataclass(frozen=True)
class Decision:
    item: QueueItem
    removed: Removed | None = None  # what a Remove decision deleted


@dataclass
class ReviewDesk:
    queue: ReviewQueue
    audit: AuditLog
    user: User | None  # as the users file or the OIDC mapping has them now, not as the page last saw them
    reviewer: str  # the signed-in name; typed in only when access control is off
    remover: ContentRemover | None = None  # a desk without one refuses Remove decisions

    def claim_next(
        self, *, state: State | str = State.PENDING, category: str | None = None, skip: Collection[int] = ()
    ) -> QueueItem | None:
        self._allow(Permission.MODERATE, "claim")
        return self.queue.claim_next(self.reviewer, state=state, category=category, skip=skip)

    def claim(self, item_id: int) -> QueueItem:
        """Take (or renew) the lease on one item, as `moderate claim` does."""
        self._allow(Permission.MODERATE, "claim", item=item_id)
        return self.queue.claim(item_id, self.reviewer)

    def release(self, item_id: int) -> None:
        self._allow(Permission.MODERATE, "skip", item=item_id)
        self.queue.release(item_id, self.reviewer)

    def decide(self, item_id: int, state: State | str, note: str = "") -> Decision:
        """Decide and audit; removing content is also a destructive action and needs that permission too."""
        self._allow(Permission.MODERATE, "decide", item=item_id, to=str(state))
        removed = None
        if state == State.REMOVED:
            self._allow(Permission.DESTRUCTIVE, "decide", item=item_id, to=str(state))
            removed = self._remove_content(item_id)
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
        return Decision(item, removed)

    def _remove_content(self, item_id: int) -> Removed:
        if self.remover is None:
            raise BadInput(f"item {item_id}", "this desk has no access to the collection, so it cannot remove content")
        return remove_queued_content(self.queue, self.remover, self.audit, item_id, self.reviewer, user=self.user)

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
