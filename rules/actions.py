"""One handler per rule action type, in one table: check at load, render, apply to the case.

`ACTION_RULES[action.type]` is the only place that tells action types apart: a new action
type is one class here (and its models in `bot/actions.py` and `rules/schema.py`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot import actions
from rules import schema as s
from rules.context import Templates
from rules.decision import Decision, Reason
from rules.loader import Issues, Loc, SourceFile
from rules.operators import MISSING, OperatorError, parse_path
from rules.priorities import higher, raise_by
from rules.templates import TemplateRenderer

TEMPLATE_FIELDS = ("text", "subject", "body", "message")


@dataclass(slots=True)
class CheckSite:
    """Where an action is written, and what checking it needs."""

    src: SourceFile
    loc: Loc
    issues: Issues
    renderer: TemplateRenderer
    allowed_hosts: set[str]

    def add(self, sub: tuple[str | int, ...], message: str, **hint: Any) -> None:
        """Record a problem at `sub` below the action."""
        self.issues.add(self.src, (*self.loc, *sub), message, **hint)


@dataclass(slots=True)
class Step:
    """One action being planned: the facts worked on, the decision so far, the rule."""

    work: dict[str, Any]
    decision: Decision
    templates: Templates
    rule_id: str

    def render(self, text: s.LocalizedText | None) -> str:
        """A template of the action, rendered in the request's language."""
        return self.templates.render(text, self.work, self.decision)

    def set(self, path: tuple[str, ...], value: Any) -> bool:
        """Set a field of the facts; True if it changed."""
        return set_path(self.work, path, value)


def set_path(work: dict[str, Any], path: tuple[str, ...], value: Any) -> bool:
    """Set a value; nested dicts are copied on write so the caller's facts never change."""
    target = work.setdefault(path[0], {})
    for key in path[1:-1]:
        nxt = target.get(key)
        nxt = dict(nxt) if isinstance(nxt, dict) else {}
        target[key] = nxt
        target = nxt
    before = target.get(path[-1], MISSING)
    target[path[-1]] = value
    return bool(before != value)


class ActionRule:
    """How the engine handles one action type (the default: a contract model, no effect)."""

    def check(self, action: Any, site: CheckSite) -> None:
        """Load-time checks beyond the schema (templates are checked for every type)."""

    def render(self, action: Any, step: Step) -> actions.ActionModel:
        """The contract's action: templates rendered, facts filled in (ValueError: skip)."""
        assert isinstance(action, actions.ActionModel)
        return action

    def apply(
        self, action: Any, planned: actions.ActionModel, step: Step
    ) -> tuple[actions.ActionModel, bool]:
        """Its effect on the case and the decision: (the action to plan, whether facts changed)."""
        return planned, False


def _set_priority(step: Step, new: str, *, escalated: bool) -> bool:
    """Change the decision's priority with a reason; True if the case's priority changed."""
    decision = step.decision
    if new == decision.priority:
        return False
    verb_fr, verb_en = (
        ("escalade", "escalated") if escalated else ("priorité fixée", "priority set")
    )
    decision.reasons.append(
        Reason(
            "escalated" if escalated else "priority_set",
            f"{verb_fr} par {step.rule_id} ({decision.priority}→{new})",
            rule_id=step.rule_id,
            message_en=f"{verb_en} by {step.rule_id} ({decision.priority}→{new})",
        )
    )
    decision.priority = new
    return step.set(("case", "priority"), new)


class SetFieldRule(ActionRule):
    """`set_field`: a writable field of the case, contact or company."""

    def check(self, action: s.SetFieldAction, site: CheckSite) -> None:
        """The field must parse and lie under a writable root."""
        try:
            path = parse_path(action.field)
        except OperatorError as exc:
            site.add(("field",), str(exc), word=exc.word, candidates=exc.candidates)
            return
        if path[0] not in s.WRITABLE_ROOTS:
            site.add(
                ("field",),
                f"only {', '.join(s.WRITABLE_ROOTS)} fields can be set, not {path[0]!r}",
            )

    def apply(
        self, action: s.SetFieldAction, planned: actions.ActionModel, step: Step
    ) -> tuple[actions.ActionModel, bool]:
        """Set the field on the facts and record the change."""
        changed = step.set(parse_path(action.field), action.value)
        step.decision.field_changes[action.field] = action.value
        return planned, changed


class AddTagRule(ActionRule):
    """`add_tag`: a tag on the decision."""

    def apply(
        self, action: s.AddTagAction, planned: actions.ActionModel, step: Step
    ) -> tuple[actions.ActionModel, bool]:
        """Add the tag once."""
        if action.tag not in step.decision.tags:
            step.decision.tags.append(action.tag)
        return planned, False


class RemoveTagRule(ActionRule):
    """`remove_tag`: a tag taken off the decision."""

    def apply(
        self, action: s.RemoveTagAction, planned: actions.ActionModel, step: Step
    ) -> tuple[actions.ActionModel, bool]:
        """Remove the tag if present."""
        if action.tag in step.decision.tags:
            step.decision.tags.remove(action.tag)
        return planned, False


class AssignRule(ActionRule):
    """`assign`: a queue and/or an owner."""

    def check(self, action: s.AssignAction, site: CheckSite) -> None:
        """At least one of queue and owner."""
        if not action.queue and not action.owner:
            site.add((), "assign needs a queue or an owner")

    def apply(
        self, action: s.AssignAction, planned: actions.ActionModel, step: Step
    ) -> tuple[actions.ActionModel, bool]:
        """Set the case's queue and owner."""
        changed = False
        for name in ("queue", "owner"):
            value = getattr(action, name)
            if value:
                changed |= step.set(("case", name), value)
                step.decision.field_changes[f"case.{name}"] = value
        return planned, changed


class SetPriorityRule(ActionRule):
    """`set_priority`: the priority, as the rule says."""

    def apply(
        self, action: s.SetPriorityAction, planned: actions.ActionModel, step: Step
    ) -> tuple[actions.ActionModel, bool]:
        """Set the decision's and the case's priority."""
        return planned, _set_priority(step, action.priority, escalated=False)


class EscalateRule(ActionRule):
    """`escalate`: raise the priority, move to a queue, notify with a message."""

    def render(self, action: s.EscalateAction, step: Step) -> actions.ActionModel:
        """The contract's Escalate with its message rendered."""
        message = step.render(action.message) if action.message else ""
        return actions.Escalate(
            to=action.to, queue=action.queue, notify=list(action.notify), message=message
        )

    def apply(
        self, action: s.EscalateAction, planned: actions.ActionModel, step: Step
    ) -> tuple[actions.ActionModel, bool]:
        """Raise the priority (never lower it), move the case, and say from what to what."""
        decision = step.decision
        new = higher(action.to or raise_by(decision.priority, action.raise_by), decision.priority)
        planned = planned.model_copy(update={"from_": decision.priority, "to": new})
        changed = False
        if action.queue:
            changed |= step.set(("case", "queue"), action.queue)
            decision.field_changes["case.queue"] = action.queue
        changed |= _set_priority(step, new, escalated=True)
        return planned, changed


class AddNoteRule(ActionRule):
    """`add_note`: an internal note, rendered in the request's language."""

    def render(self, action: s.AddNoteAction, step: Step) -> actions.ActionModel:
        """The contract's AddNote."""
        return actions.AddNote(
            text=step.render(action.text), language=step.templates.lang(step.work)
        )


class SendReplyRule(ActionRule):
    """`send_reply`: a reply to the requester, rendered in the request's language."""

    def render(self, action: s.SendReplyAction, step: Step) -> actions.ActionModel:
        """The contract's SendReply, addressed to the sender."""
        request, contact = step.work["request"], step.work["contact"]
        return actions.SendReply(
            to=request.get("sender_email") or contact.get("email"),
            subject=step.render(action.subject),
            body=step.render(action.body),
            language=step.templates.lang(step.work),
            in_reply_to=request.get("message_id"),
        )


class WebhookRule(ActionRule):
    """`webhook`: a signed request to an allow-listed HTTPS host."""

    def check(self, action: s.WebhookAction, site: CheckSite) -> None:
        """https, a host in settings.webhook_allowed_hosts, no credentials in the URL."""
        parts = urlsplit(action.url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https":
            site.add(("url",), f"webhook URL must use https, not {parts.scheme!r}")
        elif not host:
            site.add(("url",), "webhook URL has no host")
        elif host not in site.allowed_hosts:
            site.add(
                ("url",),
                f"webhook host {host!r} is not in settings.webhook_allowed_hosts",
                word=host,
                candidates=site.allowed_hosts,
            )
        elif parts.username or parts.password:
            site.add(("url",), "webhook URL must not carry credentials")

    def render(self, action: s.WebhookAction, step: Step) -> actions.ActionModel:
        """The payload with the case, category, priority and event added."""
        decision = step.decision
        payload = {
            **copy.deepcopy(action.payload_),
            "case": step.work["case"].get("reference"),
            "category": decision.category,
            "priority": decision.priority,
            "event": decision.event,
        }
        return action.model_copy(update={"payload_": payload})


ACTION_RULES: dict[str, ActionRule] = {
    "set_field": SetFieldRule(),
    "set_priority": SetPriorityRule(),
    "add_tag": AddTagRule(),
    "remove_tag": RemoveTagRule(),
    "assign": AssignRule(),
    "add_note": AddNoteRule(),
    "send_reply": SendReplyRule(),
    "escalate": EscalateRule(),
    "webhook": WebhookRule(),
}


def rule_for(action: Any) -> ActionRule:
    """The handler of an action's type (ValueError for a type the engine does not know)."""
    handler = ACTION_RULES.get(getattr(action, "type", ""))
    if handler is None:
        raise ValueError(f"unknown action type {action.type!r}")
    return handler


def templates_of(action: Any) -> list[tuple[tuple[str, ...], str]]:
    """Every template text of an action, with its place (field, and language if localised)."""
    out: list[tuple[tuple[str, ...], str]] = []
    for name in TEMPLATE_FIELDS:
        value = getattr(action, name, None)
        if value is None:
            continue
        if isinstance(value, str):
            out.append(((name,), value))
        else:
            for lang in ("fr", "en"):
                variant = getattr(value, lang)
                if variant is not None:
                    out.append(((name, lang), variant))
    return out


def check_action(action: Any, site: CheckSite) -> None:
    """Every load-time problem of one action: its templates, then its type's own checks."""
    for sub, template in templates_of(action):
        try:
            site.renderer.validate(template)
        except ValueError as exc:
            site.add(sub, f"template refused: {exc}")
    handler = ACTION_RULES.get(action.type)
    if handler is not None:
        handler.check(action, site)
