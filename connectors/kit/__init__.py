"""What connectors share: HTTP client, rate limiter, pagination, auth, mapping, contract kit.

    from connectors.kit import HttpClient, RetryPolicy, TokenBucket, BearerToken
    client = HttpClient("zendesk", "https://x.zendesk.com", auth=BearerToken(token),
                        limiter=TokenBucket.per_window(200, 60))
    data = client.get("/api/v2/tickets.json", params={...})   # JSON, or an error from bot.errors

The contract test kit lives in `connectors.kit.contract`: it needs pytest, which the
`testing` extra installs (`pip install 'crmbot[testing]'`), so it is not re-exported here.
"""

from __future__ import annotations

from connectors.kit.auth import Auth, BasicAuth, BearerToken, OAuth2RefreshToken
from connectors.kit.clock import SYSTEM_CLOCK, Clock, FakeClock, SystemClock
from connectors.kit.http import (
    HttpClient,
    HttpRejected,
    OutcomeUnknown,
    RetryPolicy,
    Wait,
    connector_label,
    parse_retry_after,
    vendor_error,
)
from connectors.kit.mapping import (
    clean_str,
    epoch_ms,
    iso_utc,
    parse_timestamp,
    synthetic_message_id,
    truthy,
)
from connectors.kit.pagination import (
    LoopGuard,
    PaginationLoop,
    paginate_cursor,
    paginate_links,
    paginate_offset,
)
from connectors.kit.ratelimit import TokenBucket

__all__ = [
    "SYSTEM_CLOCK",
    "Auth",
    "BasicAuth",
    "BearerToken",
    "Clock",
    "FakeClock",
    "HttpClient",
    "HttpRejected",
    "LoopGuard",
    "OAuth2RefreshToken",
    "OutcomeUnknown",
    "PaginationLoop",
    "RetryPolicy",
    "SystemClock",
    "TokenBucket",
    "Wait",
    "clean_str",
    "connector_label",
    "epoch_ms",
    "iso_utc",
    "paginate_cursor",
    "paginate_links",
    "paginate_offset",
    "parse_retry_after",
    "parse_timestamp",
    "synthetic_message_id",
    "truthy",
    "vendor_error",
]
