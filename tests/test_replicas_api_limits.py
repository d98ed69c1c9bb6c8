"""Three replicas against the HubSpot fake share one API budget and one OAuth2 token.

Each "replica" is a thread with its own store engine and its own HubSpot client, built inside
the runtime's sharing block (as `build_runtime` does), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.app import build_runtime
from bot.errors import AuthError
from bot.sealing import Sealer
from bot.shared import StoreSharing
from bot.store import Store, open_store
from bot.store.budget import budget_state
from bot.store.tokens import read_tokens
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.settings import HubSpotSettings
from connectors.kit import Clock, FakeClock, OAuth2RefreshToken
from connectors.kit.ratelimit import SharedTokenBucket, TokenBucket
from connectors.kit.shared import sharing
from tests.fakes.hubspot import FakeHubSpot
from tests.helpers.clocks import FastClock
from tests.helpers.runtime import make_settings
from tests.helpers.stores import store_url

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
OAUTH = ("client-id", "client-secret", "refresh-0")
SEALER = Sealer([Fernet.generate_key().decode()])  # tokens in a shared store are sealed
PROPS = ["subject"]


def oauth_settings(fake: FakeHubSpot, **extra: object) -> HubSpotSettings:
    """HubSpot settings of an OAuth app on the fake."""
    return HubSpotSettings.model_validate(
        {
            "type": "hubspot",
            "base_url": fake.url,
            "oauth_client_id": OAUTH[0],
            "oauth_client_secret": OAUTH[1],
            "oauth_refresh_token": OAUTH[2],
            **extra,
        }
    )


@contextmanager
def replicas(
    url: str | None, settings: HubSpotSettings, clocks: list[Clock]
) -> Iterator[list[HubSpotApi]]:
    """One HubSpot client per clock, each built over its own store engine (None: no store)."""
    stores: list[Store] = []
    apis: list[HubSpotApi] = []
    for clock in clocks:
        if url is None:
            apis.append(HubSpotApi("hubspot", settings, clock=clock))
            continue
        store = open_store(url)
        stores.append(store)
        with sharing(StoreSharing(store, sealer=SEALER).state()):
            apis.append(HubSpotApi("hubspot", settings, clock=clock))
    try:
        yield apis
    finally:
        for api in apis:
            api.http.close()
        for store in stores:
            store.dispose()


def run_together(apis: list[HubSpotApi], work: Callable[[HubSpotApi], None]) -> None:
    """Run `work` on every replica at once; re-raise the first error."""
    barrier = threading.Barrier(len(apis))
    errors: list[BaseException] = []

    def run(api: HubSpotApi) -> None:
        try:
            barrier.wait()
            work(api)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(api,)) for api in apis]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise errors[0]


def poll_for(clock: Clock, seconds: float, ticket: str) -> Callable[[HubSpotApi], None]:
    """Work: read one ticket again and again for `seconds` of the clock's time."""

    def work(api: HubSpotApi) -> None:
        end = clock.time() + seconds
        while clock.time() < end:
            api.batch_read("tickets", [ticket], PROPS)

    return work


@pytest.mark.parametrize("kind", STORES)
def test_three_replicas_stay_within_one_budget_per_ten_seconds(kind: str, tmp_path: Path) -> None:
    budget, clock = 20, FastClock(speed=4.0)
    with (
        FakeHubSpot(clock=clock, limit_per_10s=budget, oauth_client=OAUTH) as fake,
        store_url(kind, tmp_path) as url,
    ):
        ticket = fake.create_ticket("Facture en double")
        settings = oauth_settings(fake, requests_per_10s=budget)
        with replicas(url, settings, [clock, clock, clock]) as apis:
            run_together(apis, poll_for(clock, 20.0, ticket))
        calls = fake.calls("POST /crm/v3/objects/")
        assert fake.rejected_429 == 0
        assert fake.busiest_window(10.0) <= budget
        assert calls >= 1.5 * budget  # ~budget per 10 s over 20 s: the replicas were not idle
        assert fake.token_refreshes() == 1


def test_without_the_shared_budget_three_replicas_spend_three_budgets() -> None:
    budget, clock = 20, FastClock(speed=4.0)
    with FakeHubSpot(clock=clock, enforce_rate_limits=False) as fake:
        ticket = fake.create_ticket("Facture en double")
        settings = HubSpotSettings.model_validate(
            {"type": "hubspot", "base_url": fake.url, "token": fake.token, "requests_per_10s": 20}
        )
        with replicas(None, settings, [clock, clock, clock]) as apis:
            run_together(apis, poll_for(clock, 12.0, ticket))
        assert fake.busiest_window(10.0) > 2 * budget


@pytest.mark.parametrize("kind", STORES)
def test_a_token_expiring_while_three_replicas_poll_is_refreshed_once(
    kind: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    with (
        FakeHubSpot(
            clock=clock, enforce_rate_limits=False, oauth_client=OAUTH, rotate_refresh_tokens=True
        ) as fake,
        store_url(kind, tmp_path) as url,
    ):
        ticket = fake.create_ticket("Relance: toujours pas de réponse")
        with replicas(url, oauth_settings(fake), [clock, clock, clock]) as apis:
            run_together(apis, lambda api: api.batch_read("tickets", [ticket], PROPS))
            assert fake.token_refreshes() == 1
            clock.advance(1800.0)  # the access token has expired
            run_together(apis, lambda api: api.batch_read("tickets", [ticket], PROPS))
            assert fake.token_refreshes() == 2
            fake.expire_access_token()  # refused before its time: every replica gets a 401
            run_together(apis, lambda api: api.batch_read("tickets", [ticket], PROPS))
            assert fake.token_refreshes() == 3
            run_together(apis, lambda api: api.batch_read("tickets", [ticket], PROPS))
            assert fake.token_refreshes() == 3
            adopted = sum(api.http._auth.adopted for api in apis)  # type: ignore[union-attr]
        assert fake.stale_refresh_reuses == 0
        assert adopted >= 4  # the other replicas took the refreshed token from the store


def test_without_shared_tokens_a_rotated_refresh_token_is_reused_and_refused() -> None:
    clock = FakeClock()
    with FakeHubSpot(
        clock=clock, enforce_rate_limits=False, oauth_client=OAUTH, rotate_refresh_tokens=True
    ) as fake:
        ticket = fake.create_ticket("Relance")
        with replicas(None, oauth_settings(fake), [clock, clock]) as apis:
            apis[0].batch_read("tickets", [ticket], PROPS)
            with pytest.raises(AuthError):
                apis[1].batch_read("tickets", [ticket], PROPS)
        assert fake.stale_refresh_reuses == 1


@pytest.mark.parametrize("kind", STORES)
def test_a_rotated_refresh_token_survives_a_restart(kind: str, tmp_path: Path) -> None:
    clock = FakeClock()
    with (
        FakeHubSpot(
            clock=clock, enforce_rate_limits=False, oauth_client=OAUTH, rotate_refresh_tokens=True
        ) as fake,
        store_url(kind, tmp_path) as url,
    ):
        ticket = fake.create_ticket("Relance")
        with replicas(url, oauth_settings(fake), [clock]) as apis:
            apis[0].batch_read("tickets", [ticket], PROPS)
        clock.advance(3600.0)
        with replicas(url, oauth_settings(fake), [clock]) as apis:  # the settings' old token
            apis[0].batch_read("tickets", [ticket], PROPS)
        assert fake.token_refreshes() == 2
        assert fake.stale_refresh_reuses == 0


@pytest.mark.parametrize("kind", STORES)
def test_a_429_with_retry_after_seen_by_one_replica_pauses_the_others(
    kind: str, tmp_path: Path
) -> None:
    start = FakeClock()
    first, second = FakeClock(start.time()), FakeClock(start.time())  # each its own time
    with (
        FakeHubSpot(clock=start, oauth_client=OAUTH) as fake,
        store_url(kind, tmp_path) as url,
    ):
        ticket = fake.create_ticket("Relance")
        with replicas(url, oauth_settings(fake), [first, second]) as apis:
            fake.fail_with_429(times=1, retry_after=7.0)
            apis[0].batch_read("tickets", [ticket], PROPS)  # 429, waits 7 s, then reads
            assert sum(first.sleeps) >= 7.0
            apis[1].batch_read("tickets", [ticket], PROPS)
        assert sum(second.sleeps) >= 7.0 - 1e-6  # it never saw the 429, and still waited
        assert fake.rejected_429 == 1


def test_the_credential_and_its_stored_tokens_never_show_in_repr(tmp_path: Path) -> None:
    clock = FakeClock()
    with (
        FakeHubSpot(clock=clock, oauth_client=OAUTH, rotate_refresh_tokens=True) as fake,
        store_url("sqlite", tmp_path) as url,
        replicas(url, oauth_settings(fake), [clock]) as apis,
    ):
        ticket = fake.create_ticket("Relance")
        apis[0].batch_read("tickets", [ticket], PROPS)
        auth = apis[0].http._auth
        assert isinstance(auth, OAuth2RefreshToken)
        store = open_store(url)
        stored = StoreSharing(store, sealer=SEALER).current(auth._key, "hubspot", OAUTH[2])
        store.dispose()
        assert stored.access_token == fake.token
        for secret in auth.secrets():
            assert secret not in repr(auth)
            assert secret not in repr(stored)


def test_the_runtime_gives_its_connectors_the_stores_budget_and_tokens(tmp_path: Path) -> None:
    with FakeHubSpot(oauth_client=OAUTH) as fake:
        raw = oauth_settings(fake).model_dump(mode="json", exclude_unset=True)
        raw.update(oauth_client_secret=OAUTH[1], oauth_refresh_token=OAUTH[2], interval_seconds=60)
        runtime = build_runtime(make_settings(f"sqlite:///{tmp_path / 'c.db'}", {"hub": raw}))
        try:
            source = runtime.sources["hub"][0]
            api = source.api  # type: ignore[attr-defined]
            assert isinstance(api.search_bucket, SharedTokenBucket)
            assert isinstance(api.general, SharedTokenBucket)
            source.check()
            with runtime.store.connect() as conn:
                assert budget_state(conn, api.search_bucket.connector, "search") is not None
                assert read_tokens(conn, api.http._auth._key) is not None
        finally:
            runtime.close()
        assert fake.token_refreshes() == 1


def _spend_all(bucket: TokenBucket) -> None:
    """Take from a bucket whose clock stands still until it asks to wait."""
    for _ in range(1000):
        if bucket.try_acquire() > 0:
            return
    raise AssertionError("the budget never ran out")


@pytest.mark.parametrize("kind", STORES)
def test_sources_with_different_names_on_one_hubspot_account_share_one_budget(
    kind: str, tmp_path: Path
) -> None:
    clock = FakeClock()  # stands still: nothing refills
    with (
        FakeHubSpot(clock=clock) as fake,
        FakeHubSpot(clock=clock) as other,
        store_url(kind, tmp_path) as url,
    ):
        settings = HubSpotSettings.model_validate(
            {"type": "hubspot", "base_url": fake.url, "token": fake.token, "requests_per_10s": 20}
        )
        elsewhere = settings.model_copy(update={"base_url": other.url})
        store = open_store(url)
        try:
            with sharing(StoreSharing(store).state()):
                source = HubSpotApi("crm", settings, clock=clock)
                sink = HubSpotApi("crm_out", settings, clock=clock)  # same portal and app
                third = HubSpotApi("crm", elsewhere, clock=clock)  # same name, another account
            assert source.general.connector == sink.general.connector
            assert third.general.connector != source.general.connector
            _spend_all(source.general)
            assert sink.general.try_acquire() > 0  # the source spent the account's budget
            assert third.general.try_acquire() == 0  # another account: a budget of its own
            with store.connect() as conn:
                assert budget_state(conn, "crm", "general") is None  # keyed by account
                assert budget_state(conn, source.general.connector, "general") is not None
        finally:
            for api in (source, sink, third):
                api.http.close()
            store.dispose()


def test_zendesk_rt_and_smtp_budgets_follow_the_account_not_the_name() -> None:
    from connectors.rt.source import RtSettings, make_client
    from connectors.smtp.sink import SmtpSettings, SmtpSink
    from connectors.zendesk.source import ZendeskApi, ZendeskSettings

    def zendesk(name: str, subdomain: str) -> str:
        conf = ZendeskSettings(type="zendesk", subdomain=subdomain, email="a@b.fr", api_token="t")
        api = ZendeskApi(name, conf)
        return api.export_limiter.connector

    def rt(name: str, url: str) -> str:
        conf = RtSettings(type="rt", url=url, token="t")  # type: ignore[arg-type]
        return make_client(name, conf)._limiter.connector  # type: ignore[union-attr]

    def smtp(name: str, username: str) -> str:
        conf = SmtpSettings(
            type="smtp",
            host="smtp.example.fr",
            username=username,
            password="p",  # type: ignore[arg-type]
            from_address="support@example.fr",
        )
        return SmtpSink(name, conf)._bucket.connector  # type: ignore[attr-defined]

    store = open_store("sqlite://")
    with sharing(StoreSharing(store).state()):
        assert zendesk("tickets", "acme") == zendesk("tickets_vip", "acme")
        assert zendesk("tickets", "acme") != zendesk("tickets", "other")
        assert rt("rt", "https://rt.acme.fr/") == rt("rt_out", "https://RT.acme.fr")
        assert rt("rt", "https://rt.acme.fr") != rt("rt", "https://rt.other.fr")
        assert smtp("mail", "bot@acme.fr") == smtp("mail_vip", "bot@acme.fr")
        assert smtp("mail", "bot@acme.fr") != smtp("mail", "other@acme.fr")
    store.dispose()
