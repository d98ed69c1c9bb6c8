"""Reply discipline: when crmbot may answer someone automatically (RFC 3834, section 2).

A reply is planned only when every check passes, in this order:
1. the request that triggers it was written by a person (no auto-reply, bounce, list mail);
2. the recipient is a person's mailbox (not a no-reply, bounce or mail-system address), and
   mail to it has not bounced (bot/bounces.py);
3. no reply loop with that address: fewer than `loop_threshold` messages from it, within
   `loop_window_hours`, each arriving less than `loop_answer_seconds` after one of our
   automatic replies to it (two robots answering each other);
4. at most `per_case_per_day` automatic replies on one case per day;
5. at most `per_sender_per_hour` and `per_sender_per_day` automatic replies to one contact,
   so one sender's flood never queues ahead of every other customer's replies.
A reply that fails a check is not planned; the caller records why in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from bot.settings import ReplySettings
from bot.store import bounces as bounce_store
from bot.store import replies as reply_store
from connectors.smtp.compose import automated_reason

_HOUR = timedelta(hours=1)
_CLOCK_SKEW = timedelta(seconds=60)  # a Date header a little behind our clock still answers
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ReplyVerdict:
    """Whether an automatic reply may be planned; when not, a stable code and a sentence."""

    allowed: bool
    code: str = ""
    why: str = ""


ALLOWED = ReplyVerdict(True)


def _refused(code: str, why: str) -> ReplyVerdict:
    return ReplyVerdict(False, code, why)


def answers_to_our_replies(
    received: list[tuple[datetime, int]], replied: list[tuple[datetime, int]], within: timedelta
) -> int:
    """How many received messages came less than `within` after one of our replies.

    `received` holds (time, request id), `replied` (time, id of the request it answered): a
    message answers a reply when it was stored after the reply's trigger and dated from a
    minute before the reply (two systems' clocks) to `within` after it.
    """
    count = 0
    for at, request_id in received:
        if any(
            request_id > trigger and -_CLOCK_SKEW <= at - sent <= within
            for sent, trigger in replied
        ):
            count += 1
    return count


def admit_reply(
    conn: Connection,
    conf: ReplySettings,
    *,
    case_id: int,
    contact_id: int | None,
    recipient: str | None,
    trigger_auto_reply: str | None,
    now: datetime,
) -> ReplyVerdict:
    """Whether crmbot may plan one more automatic reply to `recipient` on this case now."""
    if trigger_auto_reply:
        return _refused(
            "machine_sent_request",
            f"the request is machine-sent ({trigger_auto_reply}): never answered automatically",
        )
    if not recipient:
        return _refused("no_recipient", "the request has no sender address to answer")
    machine = automated_reason(recipient)
    if machine:
        return _refused("automated_recipient", machine)
    if bounce_store.address_bouncing(conn, recipient):
        return _refused(
            "address_bouncing",
            f"mail to {recipient} bounced: no automatic mail goes to it until it is corrected",
        )
    replied: list[tuple[datetime, int]] = []
    if contact_id is not None:
        horizon = max(_DAY, timedelta(hours=conf.loop_window_hours))
        replied = reply_store.reply_times_to_contact(conn, contact_id, now - horizon)
    window = timedelta(hours=conf.loop_window_hours)
    received = reply_store.mail_times_from(conn, recipient.lower(), now - window)
    answers = answers_to_our_replies(
        received,
        [r for r in replied if r[0] >= now - window],
        timedelta(seconds=conf.loop_answer_seconds),
    )
    if answers >= conf.loop_threshold:
        return _refused(
            "reply_loop",
            f"{answers} messages from this address answered our automatic replies within "
            f"{conf.loop_window_hours:g} h: a mail loop; automatic replies stop for that address",
        )
    if reply_store.replies_to_case_since(conn, case_id, now - _DAY) >= conf.per_case_per_day:
        return _refused(
            "case_daily_limit",
            f"this case had {conf.per_case_per_day} automatic reply(ies) in the last 24 h",
        )
    if sum(1 for t, _ in replied if t >= now - _HOUR) >= conf.per_sender_per_hour:
        return _refused(
            "sender_hourly_limit",
            f"this contact had {conf.per_sender_per_hour} automatic replies in the last hour",
        )
    if sum(1 for t, _ in replied if t >= now - _DAY) >= conf.per_sender_per_day:
        return _refused(
            "sender_daily_limit",
            f"this contact had {conf.per_sender_per_day} automatic replies in the last 24 h",
        )
    return ALLOWED
