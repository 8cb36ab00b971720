"""``campaigns`` (flow version 2): read the profile back from Sent and have it reviewed before
``/complete``. The example of adding a step: this module and ``tests/example_flow_v2.py`` (the
flow definition's new version) are all it takes, beside its tests.

Items: ``profile`` (a GET of the profile at Sent, kept as :class:`VerifiedProfile`). The review
is a dependency the worker is given (:data:`REVIEWER`, taken from the step's context): while it
says what is wrong, the onboarding pauses with ``PROFILE_REVIEW``; a resume asks it again about
the profile read, and a rewind to ``campaigns`` reads Sent again first.

It sends no section of the spec and creates nothing, so an amend and a rewind treat it as a
read: a rewind into or past it reads Sent again under the new generation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from workflow.steps.base import (
    SENT_API,
    Advance,
    Item,
    Need,
    Outcome,
    Pause,
    Result,
    StepContext,
    StepDefinition,
    StepOutput,
)

__all__ = ["REVIEWER", "STEP", "VERIFIED", "VerifiedProfile"]

NAME = "verify_profile"
PROFILE = "profile"


class VerifiedProfile(StepOutput):
    """What the GET read of the profile (stored as its JSON object)."""

    profile_id: str
    name: str | None = None
    description: str | None = None
    request_id: str | None = None


#: Where the step's output lives, for this step and any later one to read, typed.
VERIFIED = Result(NAME, PROFILE, VerifiedProfile)
#: Reviews the profile Sent holds: why it is not ready yet, or ``None`` when it is.
REVIEWER: Need[Callable[[VerifiedProfile], str | None]] = Need("profile_reviewer")


def _read(ctx: StepContext) -> VerifiedProfile:
    profile_id = ctx.profile_id
    sent = ctx.dependency(SENT_API)
    reply = ctx.call("GET", f"/v3/profiles/{profile_id}", lambda: sent.get_profile(profile_id))
    return VerifiedProfile(
        profile_id=reply.data.id,
        name=reply.data.name,
        description=reply.data.description,
        request_id=reply.request_id,
    )


def _items(ctx: StepContext) -> Sequence[Item]:
    return [Item(PROFILE, _read)]


def _finish(ctx: StepContext) -> Outcome:
    verified = ctx.result(VERIFIED)
    assert verified is not None
    wrong = ctx.dependency(REVIEWER)(verified)
    if wrong is not None:
        return Pause("PROFILE_REVIEW", f"the profile at Sent is not ready: {wrong}")
    return Advance(
        details={"verified": verified.profile_id, "name": verified.name},
        request_id=verified.request_id,
    )


STEP = StepDefinition(
    name=NAME,
    items=_items,
    finish=_finish,
    description="GET the profile and have it reviewed before /complete",
    needs=(SENT_API, REVIEWER),
)
