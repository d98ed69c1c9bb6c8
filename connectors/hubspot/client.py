"""HubSpot's API as the source and sink use it: one HttpClient with HubSpot's limits.

Batch answers are read as HubSpot documents them, never by position: results come in no
guaranteed order (matched by `id`, or by `objectWriteTraceId` for creates), a 207
Multi-Status answer carries `errors` (each naming its inputs in `context.ids` or
`context.objectWriteTraceId` where HubSpot says which) and may leave some results out, and a
v4 association batch read pages per result (`results[].paging.next.after`, sent back beside
the id as `inputs[].after`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.errors import SourceUnavailable
from connectors.hubspot.settings import HubSpotSettings
from connectors.kit import (
    Auth,
    BearerToken,
    Clock,
    HttpClient,
    OAuth2RefreshToken,
    RetryPolicy,
    TokenBucket,
)
from connectors.kit.shared import account_budget

BATCH_MAX = 100  # HubSpot rejects batch calls with more inputs (400 VALIDATION_ERROR)


MAX_ASSOCIATION_PAGES = 1000  # per record: a paging loop is a vendor bug, not our problem


@dataclass
class BatchOutcome:
    """A batch write's answer: the records written, and the errors of a 207 answer."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error_for(self, key: str) -> dict[str, Any] | None:
        """The error naming this id or objectWriteTraceId in its context, if any."""
        for error in self.errors:
            context = error.get("context") or {}
            named = [*(context.get("ids") or []), *(context.get("objectWriteTraceId") or [])]
            if key in {str(n) for n in named}:
                return error
        return None


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _credential(settings: HubSpotSettings) -> tuple[str, ...]:
    """What identifies the app the calls are counted against: its token, or its OAuth client
    and configured refresh token."""
    if settings.token is not None:
        return ("token", settings.token.get_secret_value())
    refresh = settings.oauth_refresh_token
    return (
        "oauth",
        settings.oauth_client_id or "",
        refresh.get_secret_value() if refresh is not None else "",
    )


class HubSpotApi:
    """Typed calls to the HubSpot endpoints crmbot uses."""

    def __init__(
        self,
        connector: str,
        settings: HubSpotSettings,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        auth: Auth
        if settings.token is not None:
            auth = BearerToken(settings.token)
        else:
            assert settings.oauth_client_id and settings.oauth_client_secret
            assert settings.oauth_refresh_token
            auth = OAuth2RefreshToken(
                settings.base_url.rstrip("/") + "/oauth/v1/token",
                settings.oauth_client_id,
                settings.oauth_client_secret,
                settings.oauth_refresh_token,
                connector=connector,
                clock=clock,
                transport=transport,
                timeout=settings.timeout_seconds,
            )
        # HubSpot counts calls per app on a portal: the base URL and the credential the calls
        # are made with name the account, whatever this source or sink is called.
        account = account_budget("hubspot", settings.base_url, *_credential(settings))
        self.general = TokenBucket.per_window(
            settings.requests_per_10s, 10.0, clock=clock, name=f"{account}:general"
        )
        self.search_bucket = TokenBucket.per_window(
            settings.search_requests_per_second, 1.0, clock=clock, name=f"{account}:search"
        )
        self.http = HttpClient(
            connector,
            settings.base_url,
            auth=auth,
            retry=RetryPolicy(max_total_wait=settings.max_total_retry_wait),
            clock=clock,
            timeout=settings.timeout_seconds,
            transport=transport,
        )

    def search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /crm/v3/objects/{type}/search (its own, lower rate limit)."""
        return self.http.post(
            f"/crm/v3/objects/{object_type}/search", json=body, limiters=[self.search_bucket]
        )

    def batch_read(
        self, object_type: str, ids: Sequence[str], properties: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Records by id (missing ids are absent); a merged id maps to its primary record."""
        out: dict[str, dict[str, Any]] = {}
        for part in chunks(list(dict.fromkeys(ids)), BATCH_MAX):
            body = {"properties": list(properties), "inputs": [{"id": i} for i in part]}
            data = self.http.post(
                f"/crm/v3/objects/{object_type}/batch/read", json=body, limiters=[self.general]
            )
            for result in data.get("results", []):
                out[str(result["id"])] = result
        return out

    def associations(
        self, from_type: str, to_type: str, ids: Sequence[str]
    ) -> dict[str, list[str]]:
        """v4 batch read: for each `from` id, the ids of all its associated `to_type` records.

        Each result pages on its own: a result with `paging.next.after` is asked for again
        with that token beside its id, until no result has a next page.
        """
        out: dict[str, list[str]] = {}
        pending: list[dict[str, str]] = [{"id": i} for i in dict.fromkeys(ids)]
        rounds = 0
        while pending:
            rounds += 1
            if rounds > MAX_ASSOCIATION_PAGES:
                raise SourceUnavailable(
                    f"{self.http.connector}: association paging did not end after "
                    f"{MAX_ASSOCIATION_PAGES} pages"
                )
            following: list[dict[str, str]] = []
            for part in chunks(pending, BATCH_MAX):
                data = self.http.post(
                    f"/crm/v4/associations/{from_type}/{to_type}/batch/read",
                    json={"inputs": list(part)},
                    limiters=[self.general],
                )
                for result in data.get("results", []):
                    from_id = str(result["from"]["id"])
                    linked = out.setdefault(from_id, [])
                    linked.extend(str(t["toObjectId"]) for t in result.get("to") or [])
                    after = ((result.get("paging") or {}).get("next") or {}).get("after")
                    if after:
                        following.append({"id": from_id, "after": str(after)})
            pending = following
        return out

    def batch_update(self, object_type: str, inputs: Sequence[dict[str, Any]]) -> BatchOutcome:
        """POST batch/update, at most 100 inputs per call; results and 207 errors."""
        outcome = BatchOutcome()
        for part in chunks(list(inputs), BATCH_MAX):
            data = self.http.post(
                f"/crm/v3/objects/{object_type}/batch/update",
                json={"inputs": list(part)},
                limiters=[self.general],
            )
            outcome.results.extend(data.get("results") or [])
            outcome.errors.extend(data.get("errors") or [])
        return outcome

    def update(self, object_type: str, object_id: str, properties: dict[str, Any]) -> Any:
        """PATCH one record (used to isolate the culprit when a batch is rejected)."""
        return self.http.patch(
            f"/crm/v3/objects/{object_type}/{object_id}",
            json={"properties": properties},
            limiters=[self.general],
        )

    def batch_create(self, object_type: str, inputs: Sequence[dict[str, Any]]) -> BatchOutcome:
        """POST batch/create (at most 100 inputs), never resent after an unknown outcome.

        Give each input an `objectWriteTraceId`: HubSpot then answers 207 with per-input
        errors, and each result carries its trace id (results come in no guaranteed order).
        """
        outcome = BatchOutcome()
        for part in chunks(list(inputs), BATCH_MAX):
            data = self.http.post(
                f"/crm/v3/objects/{object_type}/batch/create",
                json={"inputs": list(part)},
                limiters=[self.general],
                idempotent=False,
            )
            outcome.results.extend(data.get("results") or [])
            outcome.errors.extend(data.get("errors") or [])
        return outcome

    def merge(self, object_type: str, primary_id: str, merged_id: str) -> Any:
        """POST /crm/v3/objects/{type}/merge."""
        return self.http.post(
            f"/crm/v3/objects/{object_type}/merge",
            json={"primaryObjectId": primary_id, "objectIdToMerge": merged_id},
            limiters=[self.general],
            idempotent=False,  # after an unknown outcome the sink checks hs_merged_object_ids
        )

    def post(self, path: str, body: dict[str, Any], *, idempotent: bool | None = None) -> Any:
        """Any other POST, under the general limit."""
        return self.http.post(path, json=body, limiters=[self.general], idempotent=idempotent)

    def close(self) -> None:
        """Release connections."""
        self.http.close()
