"""Is the sender of a request the contact on file? Address, plus-address and mail authentication.

A change to a contact (address, phone, e-mail…) or a case's state is given only to the
contact itself: the same mailbox as the one on file (case-insensitive; a plus-address
`anne+x@` is Anne's only when the address on file is `anne@` itself, never someone else's),
a display name that does not carry another address, and — when the receiving server wrote an
`Authentication-Results` header (RFC 8601) — no DKIM, SPF or DMARC failure in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_RESULT = re.compile(r"\b(dkim|spf|dmarc)\s*=\s*([a-z]+)", re.I)
_EMAIL = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}", re.I)
_FAILING = frozenset({"fail", "softfail", "permerror", "temperror", "policy"})


def _split(address: str) -> tuple[str, str]:
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return local, domain


def same_mailbox(sender: Any, on_file: Any) -> bool:
    """Whether `sender` is the mailbox on file: equal, or a plus-address of that very one."""
    if not sender or not on_file or "@" not in str(sender) or "@" not in str(on_file):
        return False
    s_local, s_domain = _split(str(sender))
    f_local, f_domain = _split(str(on_file))
    if s_domain != f_domain or not s_local:
        return False
    if s_local == f_local:
        return True
    # anne+news@ is anne@'s; anne@ is not anne+news@'s, and bob+anne@ is nobody's but bob's.
    return "+" not in f_local and s_local.split("+", 1)[0] == f_local


def parse_authentication_results(values: list[str] | str | None) -> dict[str, str]:
    """The dkim/spf/dmarc results in Authentication-Results header values ({} when absent).

    A method seen failing in any header wins over a pass in another (a forged header added
    before ours can only claim passes).
    """
    if not values:
        return {}
    if isinstance(values, str):
        values = [values]
    found: dict[str, str] = {}
    for value in values:
        text = re.sub(r"\([^)]*\)", " ", str(value))  # RFC 8601 comments
        for method, result in _RESULT.findall(text):
            method, result = method.lower(), result.lower()
            if found.get(method) in _FAILING:
                continue
            found[method] = result
    return found


@dataclass(frozen=True, slots=True)
class SenderCheck:
    """Whether the sender is verified as the contact on file, and every reason it is not."""

    verified: bool
    reasons: list[str] = field(default_factory=list)


def check_sender(
    sender_email: str | None,
    on_file: str | None,
    *,
    sender_name: str | None = None,
    authentication_results: list[str] | str | None = None,
) -> SenderCheck:
    """Check the sender of a request against the contact's address on file."""
    reasons: list[str] = []
    if not on_file:
        reasons.append("no_address_on_file")
    elif not same_mailbox(sender_email, on_file):
        reasons.append("not_the_address_on_file")
    names = {m.lower() for m in _EMAIL.findall((sender_name or "")[:500])}
    if names and not all(same_mailbox(n, sender_email) for n in names):
        reasons.append("display_name_carries_another_address")
    for method, result in sorted(parse_authentication_results(authentication_results).items()):
        if result in _FAILING:
            reasons.append(f"{method}_{result}")
    return SenderCheck(not reasons, reasons)
