"""The action contract: one typed model per action type, shared by rules, outbox and sinks.

A rule plans actions (the rules engine renders its templates into these models), the outbox
stores each one as a row (`action` = the type, `payload` = the model's fields plus the
envelope: target, case reference, request id), the dispatcher parses the row back with
validation, and every sink performs the models it declares (`ConnectorSpec.actions`).

This module imports nothing from crmbot, so `rules/` and `connectors/` can both use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

Priority = Literal["P1", "P2", "P3", "P4"]
PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4")
Scalar = str | int | float | bool | None

# Keys the outbox adds around an action's own fields; they are not part of the action.
ENVELOPE_KEYS = frozenset({"target", "request_id", "case_reference", "arrived_at"})


class ActionModel(BaseModel):
    """Base of every action: unknown keys are refused, `type` tells them apart."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, allow_inf_nan=False
    )  # JSON (the outbox column) has no NaN nor infinity

    type: str

    def payload(self) -> dict[str, Any]:
        """The action's fields as JSON-safe data (what the outbox row stores), without `type`."""
        return self.model_dump(mode="json", by_alias=True, exclude={"type"})


class AddNote(ActionModel):
    """An internal note on the CRM record (never sent to the customer)."""

    type: Literal["add_note"] = "add_note"
    text: str = Field(min_length=1)
    language: str | None = None
    expected_version: str | None = (
        None  # the record's version when planned (lets a sink skip a check)
    )


class AddTag(ActionModel):
    """Add a tag to the case and its CRM record."""

    type: Literal["add_tag"] = "add_tag"
    tag: str = Field(min_length=1, max_length=200)


class RemoveTag(ActionModel):
    """Remove a tag from the case and its CRM record."""

    type: Literal["remove_tag"] = "remove_tag"
    tag: str = Field(min_length=1, max_length=200)


class SetField(ActionModel):
    """Set a case (or contact/company) field; a sink writes it where its settings map it."""

    type: Literal["set_field"] = "set_field"
    field: str = Field(min_length=1)
    value: Scalar


class SetPriority(ActionModel):
    """Set the case's priority (P1 highest); each CRM maps it to its own scale."""

    type: Literal["set_priority"] = "set_priority"
    priority: Priority


class Assign(ActionModel):
    """Assign the case to a queue (group, pipeline stage) and/or an owner (agent)."""

    type: Literal["assign"] = "assign"
    queue: str | None = None
    owner: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Assign:
        if not self.queue and not self.owner:
            raise ValueError("assign needs a queue or an owner")
        return self


class Escalate(ActionModel):
    """Raise the priority `to` a level and/or move the case to an escalation queue."""

    type: Literal["escalate"] = "escalate"
    to: Priority | None = None
    from_: Priority | None = Field(default=None, alias="from")
    queue: str | None = None
    notify: list[str] = Field(default_factory=list)
    message: str = ""


class SendReply(ActionModel):
    """An e-mail reply to the requester."""

    type: Literal["send_reply"] = "send_reply"
    to: str | None = None
    subject: str = ""
    body: str = ""
    language: str | None = None
    in_reply_to: str | None = None
    references: list[str] | str | None = None


class Webhook(ActionModel):
    """A signed JSON request to an allow-listed HTTPS endpoint."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(min_length=1)
    method: Literal["POST", "PUT"] = "POST"
    payload_: dict[str, Any] = Field(default_factory=dict, alias="payload")


class Merge(ActionModel):
    """Merge the target CRM record into record `into` (confirmed duplicates)."""

    type: Literal["merge"] = "merge"
    into: str = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _into_as_text(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("into"), int):
            return {**data, "into": str(data["into"])}
        return data


class UpdateFields(ActionModel):
    """crmbot's enrichment of the CRM record (category, priority, SLA, reasons…)."""

    type: Literal["update_fields"] = "update_fields"
    fields: dict[str, Any] = Field(min_length=1)
    expected_version: str | None = None
    written: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None  # older rows' name for `written`

    @model_validator(mode="before")
    @classmethod
    def _version_as_text(cls, data: Any) -> Any:
        version = data.get("expected_version") if isinstance(data, dict) else None
        if version is not None and not isinstance(version, str):
            return {**data, "expected_version": str(version)}
        return data


CONTACT_FIELDS: frozenset[str] = frozenset(
    {"postal_address", "phone", "email", "company_name", "billing_contact"}
)  # bank details are never among them: they wait for a human check


class UpdateContact(ActionModel):
    """Change the CRM contact's own fields (a verified administrative update).

    `contact` is the address on file of the contact to change (the verified sender);
    `fields` the new values by crmbot's field name; `previous` what crmbot read before
    (the sink reports the values it replaced in its result, for the audit trail).
    """

    type: Literal["update_contact"] = "update_contact"
    contact: str = Field(min_length=3)
    fields: dict[str, str] = Field(min_length=1)
    previous: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _known_fields(self) -> UpdateContact:
        unknown = sorted(set(self.fields) - CONTACT_FIELDS)
        if unknown:
            raise ValueError(
                f"update_contact cannot change {', '.join(unknown)} "
                f"(only {', '.join(sorted(CONTACT_FIELDS))}; bank details never)"
            )
        return self


Action = Annotated[
    AddNote
    | AddTag
    | RemoveTag
    | SetField
    | SetPriority
    | Assign
    | Escalate
    | SendReply
    | Webhook
    | Merge
    | UpdateFields
    | UpdateContact,
    Field(discriminator="type"),
]
ACTION_TYPES: frozenset[str] = frozenset(
    {
        "add_note",
        "add_tag",
        "remove_tag",
        "set_field",
        "set_priority",
        "assign",
        "escalate",
        "send_reply",
        "webhook",
        "merge",
        "update_fields",
        "update_contact",
    }
)
# The write-back family: performed on the CRM record a request came from.
RECORD_ACTIONS: frozenset[str] = ACTION_TYPES - {"send_reply", "webhook"}

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Action)


class InvalidAction(ValueError):
    """An action (type and payload) that does not satisfy the contract."""


def parse_action(action_type: str, payload: dict[str, Any] | None) -> Any:
    """The typed action for a type and a payload (envelope keys ignored); InvalidAction if not."""
    body = {k: v for k, v in (payload or {}).items() if k not in ENVELOPE_KEYS}
    body["type"] = action_type
    try:
        return _ADAPTER.validate_python(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or action_type}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidAction(f"{action_type}: {problems}") from None


def raise_priority(priority: str, levels: int) -> str:
    """`priority` raised by `levels` (P3 raised by 1 is P2; never above P1)."""
    index = max(0, PRIORITIES.index(priority) - levels) if priority in PRIORITIES else 2
    return PRIORITIES[index]


@dataclass(slots=True)
class PlannedAction:
    """An action a rule (or the pipeline) wants; the outbox records it under `key`.

    `spec` is the typed action. `key` is stable per case + rule + action (idempotency).
    `sink` names a sink explicitly (empty: the runtime routes by type); `target` names the
    remote record when known. `action` and `payload` read like an outbox row (type, fields).
    """

    spec: Any  # one of the models of `Action`
    key: str
    rule_id: str | None = None
    sink: str = ""
    target: dict[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> str:
        """The action type (`add_note`, `assign`, …)."""
        return str(self.spec.type)

    @property
    def action(self) -> str:
        """The action type, as the outbox row's `action` column holds it."""
        return self.type

    @property
    def params(self) -> dict[str, Any]:
        """The action's fields, as the outbox row's `payload` holds them."""
        return self.spec.payload()

    @property
    def payload(self) -> dict[str, Any]:
        """Same as `params` (the outbox row's name)."""
        return self.params
