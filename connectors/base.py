"""What a connector is: a declared spec, and the source/sink interfaces the runtime drives.

A connector only fetches and maps. The runtime owns scheduling, retries, logging, cursors
and recovery: a source never sleeps, never swallows an outage, never stores anything. (A
`WaitingSource` blocks in `wait_for_change`, but only until the runtime's wake event.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from bot.actions import InvalidAction, parse_action
from bot.errors import MalformedInput
from bot.models import SourceRecord

Cursor = dict[str, Any]


class ConnectorSettings(BaseModel):
    """Base of every connector's settings model: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    type: str
    interval_seconds: float = Field(default=60.0, ge=1.0)
    enabled: bool = True
    write_back: str | None = None  # for a source: the sink that receives crmbot's enrichment
    status_map: dict[str, str] = Field(default_factory=dict)  # vendor status -> crmbot status


@dataclass(slots=True)
class Batch:
    """Records read in one go, and the cursor that is valid once they are all stored.

    The runtime stores the records and moves the cursor in one transaction.
    """

    records: list[SourceRecord]
    cursor: Cursor
    reset: bool = False  # the source had to start over (e.g. a new IMAP UIDVALIDITY)


@runtime_checkable
class Source(Protocol):
    """A polled source of requests."""

    name: str

    def check(self) -> str:
        """Connect, authenticate and return a one-line description of what was found."""
        ...

    def poll(self, cursor: Cursor | None, batch_size: int) -> Iterator[Batch]:
        """Yield batches of records newer than `cursor`, oldest first."""
        ...

    def close(self) -> None:
        """Release connections; the source may be polled again later."""
        ...


@runtime_checkable
class AcknowledgingSource(Source, Protocol):
    """A source that can mark items as processed once they are committed (flag, move)."""

    def acknowledge(self, records: list[SourceRecord]) -> None:
        """Called by the runtime after the batch holding these records was committed."""
        ...


@runtime_checkable
class WaitingSource(Source, Protocol):
    """A source that can block until its remote side signals new data (e.g. IMAP IDLE).

    The runtime calls `wait_for_change` between polls instead of sleeping the interval; the
    cursor stays the source of truth, so a signal missed costs at most one interval (the
    runtime still wakes the source every `interval_seconds`).
    """

    def wait_for_change(self, wake: threading.Event) -> bool | None:
        """Block until new data is signalled (True) or `wake` is set (False).

        None: the source cannot wait right now (e.g. the server lacks IDLE); the runtime
        then sleeps until its next wake-up. Must return promptly once `wake` is set.
        Raises RetriableError when the connection it waits on is lost: the runtime calls
        it again after a backoff.
        """
        ...


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """What a connector declares about itself; found through `crmbot.connectors` entry points."""

    name: str
    settings_model: type[ConnectorSettings]
    make_source: Callable[[str, Any], Source] | None = None
    make_sink: Callable[[str, Any], Any] | None = None
    capabilities: frozenset[str] = field(default_factory=frozenset)
    description: str = ""
    # The action types (bot/actions.py) its sink performs: the runtime routes by this, and a
    # rule whose action no configured sink performs is refused at load.
    actions: frozenset[str] = field(default_factory=frozenset)
    # When what the sink performs depends on its settings (e.g. RT tags need a custom field):
    # the action types for one sink's validated settings; `actions` is the static default.
    actions_for: Callable[[Any], frozenset[str]] | None = None
    # Why an action type is not performed, for the refusal message (e.g. "RT has no tags").
    refusals: dict[str, str] = field(default_factory=dict)
    # The checker of the vendor's signed webhooks for one source: (name, settings) -> a
    # connectors.kit.webhooks.WebhookVerifier, or None when that source has no webhook secret.
    webhook: Callable[[str, Any], Any] | None = None
    # `crmbot setup <connector>`: (name, settings, create) -> lines that say what was done
    # or what the admin must do (fields, webhook subscriptions).
    setup: Callable[[str, Any, bool], list[str]] | None = None
    # What performing an action sets among the ticket fields the CRM's source reads back
    # ("status", "priority"), as the source reads them: (sink settings, action) -> values.
    # A polled version whose only changes are such values is crmbot's own write, not news.
    read_back: Callable[[Any, SinkAction], dict[str, str]] | None = None


@dataclass(slots=True)
class SinkAction:
    """One planned effect, as the outbox dispatcher hands it to a sink.

    `target` names the remote record (e.g. {"type": "ticket", "id": "123"}); `payload`
    holds what to do (fields to set, note text, reply body). `idempotency_key` is unique per
    effect: a sink whose API has no idempotency of its own checks it before acting.
    """

    outbox_id: int
    idempotency_key: str
    action: str  # the action type: add_note, add_tag, assign, update_fields, send_reply…
    target: dict[str, Any]
    payload: dict[str, Any]
    case_reference: str | None = None
    spec: Any = None  # the typed action (bot/actions.py); parsed from action + payload if None
    # True when no action of this case was handed to this sink before: a record the sink
    # opens for the case (a ticket for a mail case) cannot exist yet, no need to look for it.
    first_of_case: bool = False
    # The record (`ticket_id`) this sink reported for the case in an action done before, by
    # this replica or another: no need to look for it (a search may trail the creation).
    case_ticket: str | None = None

    def typed(self) -> Any:
        """The typed action; raises MalformedInput when the payload breaks the contract."""
        if self.spec is None:
            try:
                self.spec = parse_action(self.action, self.payload)
            except InvalidAction as exc:
                raise MalformedInput(str(exc)) from None
        return self.spec


@dataclass(slots=True)
class SinkResult:
    """What became of one action.

    Performed, for good: done (with the remote ids), skipped (with why), conflict.
    Not performed: retry (nothing was tried yet, e.g. a rate limit: comes back without using
    an attempt; `detail["retry_after"]` in seconds if known) or failed (the sink tried and it
    failed, e.g. a 4xx for this message: uses up one of the row's attempts).
    """

    outbox_id: int
    status: str  # done | skipped | conflict | retry | failed
    detail: dict[str, Any] = field(default_factory=dict)
    # True when the sink's next result follows at once, with no call to the remote system in
    # between (one batch call's answers): the dispatcher then writes them in one transaction.
    # Never set it when the next result needs the network: a result is written before any
    # further effect starts, so a crash repeats only the effects of the call in flight.
    more_ready: bool = field(default=False, compare=False, repr=False)


@runtime_checkable
class Sink(Protocol):
    """Where planned actions are performed (a CRM write-back, SMTP)."""

    name: str

    def perform(self, actions: list[SinkAction]) -> Iterable[SinkResult]:
        """Perform the actions (coalesced and batched where the API allows); one result each.

        May be a generator that yields each result as soon as its effect is performed (after
        each message sent, each API call that completed work): the dispatcher records each
        result before it asks for the next, so a crash repeats at most the effect in flight.
        A plain list works too. Raise RetriableError (or let OSError out) for the whole call
        when the remote side is unavailable, FatalError for bad credentials: the actions not
        answered yet come back later without using an attempt. A single rejected action is a
        SinkResult with status "skipped".
        """
        ...

    def check(self) -> str:
        """Connect, authenticate with one cheap call; a one-line description of what was found."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def in_action_order(
    actions: list[SinkAction], results: Iterable[SinkResult]
) -> Iterator[SinkResult]:
    """`results` in the order of `actions`, each as soon as it and every one before it came.

    If `results` fails part-way, what it had performed is still handed out before the error.
    A run of results handed out together is marked `more_ready` but for its last one.
    """
    order = [a.outbox_id for a in actions]
    known: dict[int, SinkResult] = {}
    position = 0
    try:
        for result in results:
            known[result.outbox_id] = result
            run: list[SinkResult] = []
            while position < len(order) and order[position] in known:
                run.append(known.pop(order[position]))
                position += 1
            yield from _together(run)
    except Exception:
        yield from _together(list(known.values()))
        raise
    yield from _together(list(known.values()))  # ids not in `actions`: the caller logs them


def _together(run: list[SinkResult]) -> Iterator[SinkResult]:
    """Hand out results that are all known now: each but the last says more are ready."""
    for index, result in enumerate(run):
        result.more_ready = index < len(run) - 1
        yield result


def new_results(results: dict[int, SinkResult], handed_out: set[int]) -> Iterator[SinkResult]:
    """The results in `results` not handed out yet (a sink filling a dict yields with this)."""
    fresh = [r for outbox_id, r in list(results.items()) if outbox_id not in handed_out]
    handed_out.update(r.outbox_id for r in fresh)
    yield from _together(fresh)
