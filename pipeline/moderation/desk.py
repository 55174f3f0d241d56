"""Reviewing in the app: the queue's show, claim, skip, release and decide for a signed-in user, each checked
against the user's role here, in the call path (a hidden button is not a check), and written to the access audit
log, refusals included. The page builds a desk for each action with the user as they are at that moment, so a
role changed or removed since the page was drawn applies to the next click.

Showing the next item does not claim it: a claim is the reviewer's explicit Claim, or the first decision (which
claims in the same transaction). A claim ends with the decision, the claimant's Skip or Release, an admin's
Release (for a reviewer who left with items claimed) or the lease running out.

A Remove decision removes the content too (pipeline.moderation.removal): the item is claimed, its assets and
upload file are deleted (audited as a destructive action, with what went), and only then is the decision
written. If deleting fails the item stays undecided and claimed, so the moderator can press Remove again;
deleting is idempotent. The CLI uses the queue (and, to remove, the same removal) without role checks:
whoever runs it already holds the data dir."""

from __future__ import annotations

import io
from collections.abc import Collection
from dataclasses import dataclass

from PIL import Image, ImageFilter

from pipeline.access.audit import Action, AuditLog, Outcome
from pipeline.access.auth import Permission, Role, User, require
from pipeline.errors import BadInput, PermissionDenied
from pipeline.moderation.queue import QueueItem, ReviewQueue, State, Waiting
from pipeline.moderation.removal import ContentRemover, Removed, remove_queued_content

BLUR_FRACTION = 0.08  # Gaussian radius as a share of the picture's longer side: shapes stay, content does not
RELEASE_OTHERS = "release another reviewer's claim"


def blurred_jpeg(jpeg: bytes) -> bytes:
    """A sensitive picture blurred on the server: the browser receives only the blurred bytes until the reviewer
    reveals the item, so nothing in the page (CSS, the DOM, a saved copy) shows the original."""
    with Image.open(io.BytesIO(jpeg)) as image:
        picture = image.convert("RGB")
    radius = max(4, round(max(picture.size) * BLUR_FRACTION))
    blurred = io.BytesIO()
    picture.filter(ImageFilter.GaussianBlur(radius)).save(blurred, "JPEG", quality=70)
    return blurred.getvalue()


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

    def next_item(
        self,
        *,
        state: State | str = State.PENDING,
        category: str | None = None,
        skip: Collection[int] = (),
        prefer: int | None = None,
    ) -> QueueItem | None:
        """The item to show next, not claimed: the one this reviewer holds, else the oldest free one."""
        self._allow(Permission.MODERATE, "show")
        return self.queue.peek_next(self.reviewer, state=state, category=category, skip=skip, prefer=prefer)

    def waiting(self, *, state: State | str, category: str | None = None, skip: Collection[int] = ()) -> Waiting:
        """Why nothing is shown: what is in the state, skipped by this reviewer, or held by others."""
        self._allow(Permission.MODERATE, "show")
        return self.queue.waiting(self.reviewer, state=state, category=category, skip=skip)

    def claim_next(
        self, *, state: State | str = State.PENDING, category: str | None = None, skip: Collection[int] = ()
    ) -> QueueItem | None:
        """Claim the reviewer's next item in one step (for callers that review without looking first)."""
        self._allow(Permission.MODERATE, "claim")
        return self.queue.claim_next(self.reviewer, state=state, category=category, skip=skip)

    def claim(self, item_id: int) -> QueueItem:
        """Take (or renew) the lease on one item, as `moderate claim` does."""
        self._allow(Permission.MODERATE, "claim", item=item_id)
        return self.queue.claim(item_id, self.reviewer)

    def skip(self, item_id: int) -> None:
        """Pass on an item for now: the reviewer's own claim on it (if any) ends, so others can take it."""
        self._allow(Permission.MODERATE, "skip", item=item_id)
        self.queue.release(item_id, self.reviewer)

    def release(self, item_id: int) -> str:
        """End a live claim: the claimant may release their own, an admin anyone's. Audited; returns who held it."""
        self._allow(Permission.MODERATE, "release", item=item_id)
        holder = self.queue.get(item_id).holder(self.queue.clock())
        if holder is None:
            raise BadInput(f"item {item_id}", "nobody holds a claim on it (it was released, decided or it expired)")
        if holder == self.reviewer:
            self.queue.release(item_id, self.reviewer)
        else:
            self._allow_admin("release", item=item_id, holder=holder)
            holder = self.queue.drop_claim(item_id) or holder
        self.audit.record(Action.DECISION, user=self.user, step="release", item=item_id, holder=holder)
        return holder

    def reveal(self, item_id: int, categories: Collection[str]) -> None:
        """Record that the reviewer chose to see a sensitive item unblurred (who saw what is part of the trail)."""
        self._allow(Permission.MODERATE, "reveal", item=item_id)
        self.audit.record(
            Action.DECISION, user=self.user, step="reveal", item=item_id, reviewer=self.reviewer, categories=categories
        )

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
            self._refused(error, step, **detail)
            raise

    def _allow_admin(self, step: str, **detail: object) -> None:
        """Acting on another reviewer's claim is for admins only."""
        if self.user is None or self.user.role != Role.ADMIN:
            who = "nobody is signed in" if self.user is None else f"{self.user.name} is {self.user.role}"
            error = PermissionDenied(who, RELEASE_OTHERS, [Role.ADMIN.value])
            self._refused(error, step, **detail)
            raise error

    def _refused(self, error: PermissionDenied, step: str, **detail: object) -> None:
        self.audit.record(
            Action.DECISION,
            user=self.user,
            actor=self.reviewer,
            outcome=Outcome.REFUSED,
            step=step,
            reason=str(error),
            **detail,
        )
