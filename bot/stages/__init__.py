"""Pipeline stages, in the order a request meets them."""

from __future__ import annotations

from bot.pipeline import Stage
from bot.stages.case import open_or_attach_case
from bot.stages.decide import decide
from bot.stages.dedup import match_open_case
from bot.stages.identify import identify_contact
from bot.stages.normalise import normalise
from bot.stages.plan import plan_actions
from bot.stages.rethread import reexamine_reply
from bot.stages.seen import skip_seen_and_auto_replies
from bot.stages.thread import thread_exactly

DEFAULT_STAGES: list[Stage] = [
    normalise,
    skip_seen_and_auto_replies,
    identify_contact,
    thread_exactly,
    reexamine_reply,
    match_open_case,
    open_or_attach_case,
    decide,
    plan_actions,
]

# A case event that no source read (an SLA timer) runs through the same decide and plan.
EVENT_STAGES: list[Stage] = [decide, plan_actions]

__all__ = ["DEFAULT_STAGES", "EVENT_STAGES"]
