"""HubSpot connector benchmark against the fake HubSpot, on a simulated clock.

Figures:
1. API calls per 1,000 enriched records written back (update_fields + a note each, and
   update_fields alone).
2. Records/s for a 10,000-ticket backfill under HubSpot's published limits (100 requests per
   10 s, search 5 requests/s), as a ratio to the bound 100 req/10 s x 100 records per call =
   1,000 records/s; the same for writing back 10,000 tickets.

Why a simulated clock: the real limit would make a 10,000-ticket run take minutes of
sleeping. Here the connector's token buckets and the fake's rate-limit enforcement share one
FakeClock: every wait the connector would do is added to simulated time, and the fake answers
429 if the connector ever goes faster than HubSpot allows (the count is printed). Simulated
time = time spent waiting for the limits; CPU time of the fake and client is printed apart.

Run: python3 bench/bench_crm.py [--tickets 10000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog

from connectors.base import SinkAction
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.setup import ensure_properties
from connectors.hubspot.sink import HubSpotSink
from connectors.hubspot.source import HubSpotSource
from connectors.kit import FakeClock
from connectors.kit.contract import drain
from tests.fakes.hubspot import FakeHubSpot, settings_for

BOUND = 1000.0  # records/s: 100 requests per 10 s x 100 records per request


def populate(fake: FakeHubSpot, clock: FakeClock, tickets: int) -> list[str]:
    """Tickets spread over 1 contact per 10 tickets and 1 company per 5 contacts."""
    fake.define_property("companies", "tier")
    companies = [fake.create_company(f"Co {i}", tier="gold") for i in range(tickets // 50 + 1)]
    contacts = [
        fake.create_contact(f"c{i}@x.example", "C", str(i), company_id=companies[i // 5])
        for i in range(tickets // 10 + 1)
    ]
    ids = []
    for i in range(tickets):
        ids.append(fake.create_ticket(f"Request {i}", "body", contact_id=contacts[i // 10]))
        clock.advance(0.001)
    clock.advance(60)
    return ids


def backfill(tickets: int, enrich: bool) -> dict[str, Any]:
    """Poll every ticket once from an empty cursor."""
    clock = FakeClock()
    with FakeHubSpot(clock=clock) as fake:
        populate(fake, clock, tickets)
        settings = settings_for(
            fake,
            page_size=200,
            read_contacts=enrich,
            read_companies=enrich,
            company_tier_property="tier",
        )
        source = HubSpotSource("hubspot", settings, clock=clock)
        calls0, t0, wall0 = fake.calls(), clock.monotonic(), time.perf_counter()
        out = drain(source, None, 100)
        simulated = clock.monotonic() - t0
        source.close()
        return {
            "records": len(out.records),
            "calls": fake.calls() - calls0,
            "simulated_s": simulated,
            "wall_s": time.perf_counter() - wall0,
            "rate": len(out.records) / simulated if simulated else float("inf"),
            "429": fake.rejected_429,
        }


def write_back(tickets: int, with_notes: bool) -> dict[str, Any]:
    """Write category/priority/SLA/impact (and a note) to every ticket, 1,000 actions per call."""
    clock = FakeClock()
    with FakeHubSpot(clock=clock) as fake:
        ids = populate(fake, clock, tickets)
        settings = settings_for(fake)
        ensure_properties(HubSpotApi("hubspot", settings, clock=clock))
        clock.advance(10)
        fake.rejected_429 = 0
        sink = HubSpotSink("hubspot", settings, clock=clock)
        actions: list[SinkAction] = []
        for n, tid in enumerate(ids):
            target = {"type": "ticket", "id": tid}
            fields = {
                "crmbot_category": "billing",
                "crmbot_priority": "P2",
                "crmbot_resolution_due": "2026-01-05T10:00:00Z",
                "crmbot_impact_score": 3,
                "crmbot_impact_reasons": "strategic customer",
            }
            actions.append(SinkAction(2 * n, f"u{n}", "update_fields", target, {"fields": fields}))
            if with_notes:
                text = "crmbot: billing, P2 (strategic customer)"
                actions.append(SinkAction(2 * n + 1, f"n{n}", "add_note", target, {"text": text}))
        calls0, t0, wall0 = fake.calls(), clock.monotonic(), time.perf_counter()
        done = 0
        per_call = 2000 if with_notes else 1000
        for start in range(0, len(actions), per_call):
            results = sink.perform(actions[start : start + per_call])
            done += sum(r.status == "done" for r in results)
        simulated = clock.monotonic() - t0
        sink.close()
        return {
            "records": tickets,
            "done": done,
            "calls": fake.calls() - calls0,
            "simulated_s": simulated,
            "wall_s": time.perf_counter() - wall0,
            "rate": tickets / simulated if simulated else float("inf"),
            "429": fake.rejected_429,
        }


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=10_000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    for with_notes in (True, False):
        r = write_back(1000, with_notes)
        label = "update_fields + note" if with_notes else "update_fields only"
        print(
            f"write-back 1,000 records ({label}): {r['calls']} API calls "
            f"({r['calls']:.0f} per 1,000), {r['done']} actions done, 429s: {r['429']}"
        )
    for enrich in (False, True):
        r = backfill(args.tickets, enrich)
        label = "search + contacts + companies" if enrich else "search only"
        print(
            f"backfill {r['records']} tickets ({label}): {r['calls']} calls, "
            f"{r['simulated_s']:.1f} s simulated -> {r['rate']:.0f} records/s = "
            f"{r['rate'] / BOUND:.2f} x bound ({BOUND:.0f}/s); 429s: {r['429']}; "
            f"wall {r['wall_s']:.1f} s"
        )
    r = write_back(args.tickets, False)
    print(
        f"write-back {r['records']} tickets (update_fields only): {r['calls']} calls, "
        f"{r['simulated_s']:.1f} s simulated -> {r['rate']:.0f} records/s = "
        f"{r['rate'] / BOUND:.2f} x bound; 429s: {r['429']}; wall {r['wall_s']:.1f} s"
    )


if __name__ == "__main__":
    main()
