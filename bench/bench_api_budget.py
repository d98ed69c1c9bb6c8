"""API calls reaching the HubSpot fake from 1 and 3 replicas sharing one budget, in real time.

Usage: python3 bench/bench_api_budget.py [--seconds 20] [--budget 100] [--store sqlite|postgres]
         [--expire-every 5]

Each replica is a thread with its own store engine and HubSpot client (built as the runtime
builds them), reading one ticket in a loop. The fake enforces HubSpot's ten-secondly limit
(`--budget` per 10 s, the same as crmbot's `requests_per_10s`) and rotates refresh tokens;
every `--expire-every` seconds it revokes the access token, so every replica gets a 401.
Printed per run: calls/s (whole run), the median and the busiest count over sliding 10-s
windows (1-s steps) against the budget, 429s, token refreshes against forced expiries, and
refresh tokens reused after rotation (must be 0). "3 unshared" is the control: in-memory
buckets (and a static token, since unshared OAuth2 replicas break each other), against the
fake's limit and then without it (what the replicas would send).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@contextmanager
def _store_url(kind: str) -> Iterator[str]:
    from tests.helpers.stores import postgres_schema_url

    if kind == "postgres":
        with postgres_schema_url() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"


def run(
    replicas: int, shared: bool, args: argparse.Namespace, *, enforce: bool = True
) -> dict[str, float]:
    """One run: `replicas` threads for `args.seconds`; the figures of the table."""
    from bot.shared import StoreSharing
    from bot.store import open_store
    from connectors.hubspot.client import HubSpotApi
    from connectors.hubspot.settings import HubSpotSettings
    from connectors.kit.shared import sharing
    from tests.fakes.hubspot import FakeHubSpot

    oauth = ("client-id", "client-secret", "refresh-0")
    with ExitStack() as stack:
        fake = stack.enter_context(
            FakeHubSpot(
                limit_per_10s=args.budget,
                enforce_rate_limits=enforce,
                oauth_client=oauth,
                rotate_refresh_tokens=True,
            )
        )
        ticket = fake.create_ticket("Facture en double")
        raw = {"type": "hubspot", "base_url": fake.url, "requests_per_10s": args.budget}
        if shared:
            raw.update(
                oauth_client_id=oauth[0], oauth_client_secret=oauth[1], oauth_refresh_token=oauth[2]
            )
        else:
            raw["token"] = fake.token
        settings = HubSpotSettings.model_validate(raw)
        url = stack.enter_context(_store_url(args.store))
        apis = []
        for _ in range(replicas):
            if shared:
                store = open_store(url)
                stack.callback(store.dispose)
                with sharing(StoreSharing(store).state()):
                    apis.append(HubSpotApi("hubspot", settings))
            else:
                apis.append(HubSpotApi("hubspot", settings))
        stop = threading.Event()
        expiries = 0

        def expire() -> None:
            nonlocal expiries
            while shared and not stop.wait(args.expire_every):
                fake.expire_access_token()
                expiries += 1

        def poll(api: HubSpotApi) -> None:
            while not stop.is_set():
                api.batch_read("tickets", [ticket], ["subject"])

        threads = [threading.Thread(target=poll, args=(a,)) for a in apis]
        threads.append(threading.Thread(target=expire))
        start = time.time()
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        elapsed = time.time() - start
        for api in apis:
            api.http.close()
        arrivals = sorted(fake.general_arrivals)
        windows = [
            sum(1 for a in arrivals if s <= a < s + 10.0)
            for s in (start + k for k in range(int(elapsed - 10.0) + 1))
        ]
        return {
            "calls_per_s": len(arrivals) / elapsed,
            "median_10s": statistics.median(windows) if windows else 0.0,
            "busiest_10s": float(fake.busiest_window(10.0)),
            "rejected_429": float(fake.rejected_429),
            "refreshes": float(fake.token_refreshes()),
            "expiries": float(expiries),
            "stale_reuses": float(fake.stale_refresh_reuses),
        }


def main() -> None:
    """Run 1 shared, 3 shared and 3 unshared replicas; print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--expire-every", type=float, default=5.0)
    args = parser.parse_args()
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(40)  # errors only
    )
    print(
        f"budget {args.budget} per 10 s ({args.budget / 10:.1f}/s), {args.seconds:.0f} s per run, "
        f"store {args.store}"
    )
    print(
        "| replicas | calls/s | median per 10 s | busiest 10 s | 429s "
        "| refreshes / forced expiries | stale refresh reuses |"
    )
    print("|---|---|---|---|---|---|---|")
    runs = ((1, True, True), (3, True, True), (3, False, True), (3, False, False))
    for replicas, shared, enforce in runs:
        r = run(replicas, shared, args, enforce=enforce)
        label = f"{replicas} {'shared' if shared else 'unshared'}"
        label += "" if enforce else " (the fake enforces no limit)"
        refresh = f"{r['refreshes']:.0f} / {r['expiries']:.0f}" if shared else "n/a (static token)"
        print(
            f"| {label} | {r['calls_per_s']:.2f} | {r['median_10s']:.0f} | {r['busiest_10s']:.0f} "
            f"| {r['rejected_429']:.0f} | {refresh} | {r['stale_reuses']:.0f} |"
        )


if __name__ == "__main__":
    main()
