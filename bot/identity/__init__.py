"""Contact identity: normalisation, blocking keys, scoring and matching of contacts.

Typical use in the pipeline's "identify" stage, inside the stage's transaction::

    matcher = ContactMatcher(SqlContactIndex(conn), settings.identity)
    result = matcher.match(record)        # read-only: "same" / "possible" / "new"
    if result.relation == "same":
        contact_id = result.contact_id
    else:
        contact_id = <insert a contacts row>  # and a contact_links row if "possible"
    matcher.add(contact_id, record)       # (re-)index the contact under its keys
"""

from __future__ import annotations

from bot.identity.index import ContactIndex, MemoryContactIndex, SqlContactIndex
from bot.identity.matcher import ContactMatcher, IdentitySettings, MatchResult
from bot.identity.normalise import ContactRecord, Profile

__all__ = [
    "ContactIndex",
    "ContactMatcher",
    "ContactRecord",
    "IdentitySettings",
    "MatchResult",
    "MemoryContactIndex",
    "Profile",
    "SqlContactIndex",
]
