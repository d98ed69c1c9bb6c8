"""HubSpot and Zendesk connector benchmarks against their fakes, on a simulated clock.

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

Zendesk (tests/fakes/zendesk.py, connectors/zendesk), the same two figures:
1. API calls per 1,000 enriched records written back (update_fields with crmbot_priority and
   tags, plus an internal note; reads, update_many jobs and job polls all count).
2. Records/s for a 10,000-ticket backfill through the incremental export under its published
   limit (10 requests/minute, 1,000 tickets per page), as a ratio to the bound
   10 x 1,000 records per 60 s = 166.7 records/s.

Under faults (issue 9), per sink, 1,000 enriched records written back (fields, a note, and
tags where the CRM has them) while the fake answers a share of requests 429 (HubSpot: 429
and 423 Locked) and performs another share but loses its answer (502): every perform() is
repeated for the actions it returned as "retry", as the dispatcher would, until none is
left. Printed: API calls per 1,000 records, rounds, and the check that nothing was lost
(every ticket has its fields and tags) and nothing done twice (exactly one note each).
RT (the real Request Tracker 5, `--rt N`, off by default: it is slow to fill) is measured
without injected faults: calls per record, same checks.

Run: python3 bench/bench_crm.py [--tickets 10000] [--fault-share 0.05] [--lost-share 0.01]
     [--rt 100] [--only-faults]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog

from bot.errors import RetriableError
from connectors.base import SinkAction
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.setup import ensure_properties
from connectors.hubspot.sink import HubSpotSink
from connectors.hubspot.source import HubSpotSource
from connectors.kit import FakeClock
from connectors.kit.contract import drain
from connectors.zendesk.settings import ZendeskSettings
from connectors.zendesk.sink import ZendeskSink
from connectors.zendesk.source import ZendeskSource
from tests.fakes.hubspot import FakeHubSpot, settings_for
from tests.fakes.zendesk import EMAIL as ZD_EMAIL
from tests.fakes.zendesk import MAX_EXPORT_PAGE as ZD_PAGE
from tests.fakes.zendesk import TOKEN as ZD_TOKEN
from tests.fakes.zendesk import FakeZendesk

BOUND = 1000.0  # records/s: 100 requests per 10 s x 100 records per request
ZD_EXPORT_PER_MINUTE = 10  # Zendesk's published incremental export limit
ZD_BOUND = ZD_EXPORT_PER_MINUTE * ZD_PAGE / 60.0  # records/s: 10 x 1,000 per 60 s = 166.7


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


def zd_settings(fake: FakeZendesk) -> ZendeskSettings:
    """Settings pointing at the fake with email/token credentials (as the Zendesk tests do)."""
    return ZendeskSettings(
        type="zendesk",
        base_url=fake.url,
        email=ZD_EMAIL,
        api_token=ZD_TOKEN,
        requests_per_minute=700,
        export_requests_per_minute=ZD_EXPORT_PER_MINUTE,
    )


def zd_populate(fake: FakeZendesk, clock: FakeClock, tickets: int) -> list[dict[str, Any]]:
    """Tickets spread over 1 requester per 10 tickets and 1 organization per 5 requesters."""
    orgs = [fake.add_organization(f"Co {i}", tier="gold") for i in range(tickets // 50 + 1)]
    users = [
        fake.add_user(f"C {i}", f"c{i}@x.example", organization_id=orgs[i // 5]["id"])
        for i in range(tickets // 10 + 1)
    ]
    made = []
    for i in range(tickets):
        made.append(fake.add_ticket(f"Request {i}", "body", requester_id=users[i // 10]["id"]))
        clock.advance(0.001)
    clock.advance(61)  # past the export's one-minute hold-back
    return made


def zd_endpoint(path: str) -> str:
    """A request path with ids replaced, e.g. /api/v2/job_statuses/{id}.json."""
    parts = [p.removesuffix(".json") for p in path.split("/")[3:]]
    return "/".join("{id}" if p.isdigit() or len(p) >= 20 else p for p in parts)


def zd_429s(fake: FakeZendesk) -> int:
    """429 answers the fake gave."""
    with fake.lock:
        return sum(r.status == 429 for r in fake.requests)


def zd_backfill(tickets: int) -> dict[str, Any]:
    """Export every ticket once from an empty cursor, 1,000 per page."""
    clock = FakeClock()
    with FakeZendesk(clock=clock, export_requests_per_minute=ZD_EXPORT_PER_MINUTE) as fake:
        zd_populate(fake, clock, tickets)
        source = ZendeskSource("zendesk", zd_settings(fake), clock=clock)
        calls0, t0, wall0 = fake.count(), clock.monotonic(), time.perf_counter()
        out = drain(source, None, ZD_PAGE)
        simulated = clock.monotonic() - t0
        source.close()
        return {
            "records": len(out.records),
            "calls": fake.count() - calls0,
            "simulated_s": simulated,
            "wall_s": time.perf_counter() - wall0,
            "rate": len(out.records) / simulated if simulated else float("inf"),
            "429": zd_429s(fake),
        }


def zd_write_back(tickets: int) -> dict[str, Any]:
    """Write crmbot_priority + tags and an internal note to every ticket in one perform()."""
    clock = FakeClock()
    with FakeZendesk(clock=clock) as fake:
        made = zd_populate(fake, clock, tickets)
        sink = ZendeskSink("zendesk", zd_settings(fake), clock=clock)
        actions: list[SinkAction] = []
        for n, ticket in enumerate(made):
            target = {"type": "ticket", "id": str(ticket["id"])}
            payload = {
                "fields": {"crmbot_priority": "P2", "tags": ["crmbot_triaged", "billing"]},
                "expected_version": ticket["updated_at"],  # as the outbox stage sends it
                "written": None,
            }
            actions.append(SinkAction(2 * n, f"u{n}", "update_fields", target, payload))
            body = "crmbot: billing, P2 (strategic customer)"
            actions.append(SinkAction(2 * n + 1, f"n{n}", "add_note", target, {"text": body}))
        calls0, t0, wall0 = fake.count(), clock.monotonic(), time.perf_counter()
        results = sink.perform(actions)
        simulated = clock.monotonic() - t0
        sink.close()
        with fake.lock:
            by_endpoint: dict[str, int] = {}
            for r in fake.requests[calls0:]:
                key = f"{r.method} {zd_endpoint(r.path)}"
                by_endpoint[key] = by_endpoint.get(key, 0) + 1
        return {
            "records": tickets,
            "done": sum(r.status == "done" for r in results),
            "calls": fake.count() - calls0,
            "by_endpoint": by_endpoint,
            "simulated_s": simulated,
            "wall_s": time.perf_counter() - wall0,
            "429": zd_429s(fake),
        }


def until_settled(
    sink: Any, actions: list[SinkAction], clock: FakeClock, per_call: int
) -> dict[str, Any]:
    """perform() and perform again what came back "retry", as the dispatcher does."""
    pending, final, rounds = list(actions), {}, 0
    while pending and rounds < 100:
        rounds += 1
        again: list[SinkAction] = []
        wait = 0.0
        for start in range(0, len(pending), per_call):
            chunk = pending[start : start + per_call]
            try:
                answered = sink.perform(chunk)
            except RetriableError as exc:  # nothing obtained yet: the dispatcher puts all back
                again.extend(chunk)
                wait = max(wait, float(exc.retry_after or 1.0))
                continue
            for action, result in zip(chunk, answered, strict=True):
                if result.status == "retry":
                    again.append(action)
                    wait = max(wait, float(result.detail.get("retry_after") or 1.0))
                else:
                    final[action.outbox_id] = result
        pending = again
        clock.advance(wait)
    statuses: dict[str, int] = {}
    for result in final.values():
        statuses[result.status] = statuses.get(result.status, 0) + 1
    return {"rounds": rounds, "statuses": statuses, "unsettled": len(pending)}


def hubspot_under_faults(records: int, share: float, lost: float) -> dict[str, Any]:
    """HubSpot: fields + note per record, with 429/423 and lost answers injected."""
    clock = FakeClock()
    with FakeHubSpot(clock=clock) as fake:
        ids = populate(fake, clock, records)
        settings = settings_for(fake)
        ensure_properties(HubSpotApi("hubspot", settings, clock=clock))
        clock.advance(10)
        sink = HubSpotSink("hubspot", settings, clock=clock)
        actions: list[SinkAction] = []
        for n, tid in enumerate(ids):
            target = {"type": "ticket", "id": tid}
            fields = {"crmbot_category": "billing", "crmbot_priority": "P2"}
            actions.append(SinkAction(2 * n, f"u{n}", "update_fields", target, {"fields": fields}))
            text = "crmbot: billing, P2 (strategic customer)"
            actions.append(SinkAction(2 * n + 1, f"n{n}", "add_note", target, {"text": text}))
        fake.fault_share, fake.lost_share = share, lost
        calls0 = fake.calls()
        run = until_settled(sink, actions, clock, 2000)
        calls = fake.calls() - calls0
        fake.fault_share = fake.lost_share = 0.0
        notes = [len(fake.notes_for_ticket(t)) for t in ids]
        missing = sum(fake.ticket(t).get("crmbot_category") != "billing" for t in ids)
        sink.close()
        return {
            **run,
            "calls": calls,
            "injected": dict(fake.injected_faults),
            "lost_answers": fake.lost_answers,
            "fields_missing": missing,
            "notes_missing": sum(n == 0 for n in notes),
            "notes_twice": sum(n > 1 for n in notes),
        }


def zendesk_under_faults(records: int, share: float, lost: float) -> dict[str, Any]:
    """Zendesk: priority + tags + note per record, with 429 and lost answers injected."""
    clock = FakeClock()
    with FakeZendesk(clock=clock) as fake:
        made = zd_populate(fake, clock, records)
        sink = ZendeskSink("zendesk", zd_settings(fake), clock=clock)
        body = "crmbot: billing, P2 (strategic customer)"
        actions: list[SinkAction] = []
        for n, ticket in enumerate(made):
            target = {"type": "ticket", "id": str(ticket["id"])}
            payload = {
                "fields": {"crmbot_priority": "P2", "tags": ["crmbot_triaged", "billing"]},
                "expected_version": ticket["updated_at"],
            }
            actions.append(SinkAction(2 * n, f"u{n}", "update_fields", target, payload))
            actions.append(SinkAction(2 * n + 1, f"n{n}", "add_note", target, {"body": body}))
        fake.fault_share, fake.lost_share = share, lost
        calls0 = fake.count()
        run = until_settled(sink, actions, clock, 2000)
        calls = fake.count() - calls0
        fake.fault_share = fake.lost_share = 0.0
        notes, missing = [], 0
        for ticket in made:
            stored = fake.ticket(ticket["id"])
            missing += stored["priority"] != "high" or "crmbot_triaged" not in stored["tags"]
            notes.append(sum(c["body"] == body for c in fake.comments(ticket["id"])))
        sink.close()
        return {
            **run,
            "calls": calls,
            "injected": dict(fake.injected_faults),
            "lost_answers": fake.lost_answers,
            "fields_missing": missing,
            "notes_missing": sum(n == 0 for n in notes),
            "notes_twice": sum(n > 1 for n in notes),
        }


def rt_write_back(records: int) -> dict[str, Any] | str:
    """RT 5 (real): priority + a custom field + a comment per record; calls per record."""
    from connectors.rt.settings import RtSettings
    from connectors.rt.sink import RtSink
    from tests.servers.rt import find_rt, shared_rt_server, stop_shared_rt_server

    problem = find_rt()
    if problem is not None:
        return problem
    server = shared_rt_server()
    try:
        ids = [server.create_ticket(f"Bench {i}", "b@example.com", "x") for i in range(records)]
        settings = RtSettings(
            type="rt",
            url=server.url,
            username=server.username,
            password=server.password,
            custom_fields={"category": "crmbot_category"},
        )
        sink = RtSink("rt", settings)
        actions: list[SinkAction] = []
        for n, tid in enumerate(ids):
            target = {"type": "ticket", "id": str(tid)}
            fields = {"priority": "P2", "category": "billing"}
            actions.append(SinkAction(2 * n, f"u{n}", "update_fields", target, {"fields": fields}))
            actions.append(SinkAction(2 * n + 1, f"n{n}", "add_note", target, {"body": "crmbot"}))
        wall0 = time.perf_counter()
        results = sink.perform(actions)
        wall = time.perf_counter() - wall0
        calls = sum(sink.http.calls.values())
        sink.close()
        done = sum(r.status == "done" for r in results)
        applied = sum(server.custom_field(t, "crmbot_category") == "billing" for t in ids)
        return {"calls": calls, "done": done, "applied": applied, "wall_s": wall}
    finally:
        stop_shared_rt_server()


def print_fault_figures(records: int, share: float, lost: float, rt: int) -> None:
    """The figures under injected faults, per sink."""
    for name, run in (("hubspot", hubspot_under_faults), ("zendesk", zendesk_under_faults)):
        refused = "429/423" if name == "hubspot" else "429"
        what = f"{share:.0%} answered {refused}, {lost:.0%} performed then answered 502"
        r = run(records, share, lost)
        print(
            f"{name} write-back {records} records (fields + note"
            f"{' + tags' if name == 'zendesk' else ''}) with {what}: "
            f"{r['calls']} API calls ({r['calls'] * 1000 / records:.0f} per 1,000), "
            f"{r['rounds']} perform rounds, results {r['statuses']}, unsettled "
            f"{r['unsettled']}; injected {r['injected']}, lost answers {r['lost_answers']}; "
            f"fields missing {r['fields_missing']}, notes missing {r['notes_missing']}, "
            f"notes twice {r['notes_twice']}"
        )
    if rt:
        r = rt_write_back(rt)
        if isinstance(r, str):
            print(f"rt: skipped ({r})")
        else:
            print(
                f"rt write-back {rt} records (priority + custom field + comment, real RT 5, "
                f"no faults): {r['calls']} API calls ({r['calls'] * 1000 / rt:.0f} per 1,000), "
                f"{r['done']} actions done, fields applied {r['applied']}/{rt}, "
                f"wall {r['wall_s']:.1f} s"
            )


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--fault-share", type=float, default=0.05)
    parser.add_argument("--lost-share", type=float, default=0.01)
    parser.add_argument("--rt", type=int, default=0, help="RT records (real server; slow)")
    parser.add_argument("--only-faults", action="store_true")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    print_fault_figures(1000, args.fault_share, args.lost_share, args.rt)
    if args.only_faults:
        return

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

    r = zd_write_back(1000)
    calls = ", ".join(f"{k}: {v}" for k, v in sorted(r["by_endpoint"].items()))
    print(
        f"zendesk write-back 1,000 records (update_fields priority+tags + note): "
        f"{r['calls']} API calls ({r['calls']:.0f} per 1,000; {calls}), "
        f"{r['done']} actions done, 429s: {r['429']}"
    )
    r = zd_backfill(args.tickets)
    print(
        f"zendesk backfill {r['records']} tickets (incremental export, {ZD_PAGE}/page): "
        f"{r['calls']} calls, {r['simulated_s']:.1f} s simulated -> {r['rate']:.1f} records/s = "
        f"{r['rate'] / ZD_BOUND:.2f} x bound ({ZD_BOUND:.1f}/s); 429s: {r['429']}; "
        f"wall {r['wall_s']:.1f} s"
    )


if __name__ == "__main__":
    main()
