"""The Zendesk sink against the fake Zendesk: batching, coalescing, conflicts, notes, merge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.base import Sink, SinkAction
from connectors.kit.clock import FakeClock
from connectors.zendesk.settings import ZendeskSettings
from connectors.zendesk.sink import ZendeskSink
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk

CATEGORY_FIELD = 360_000_111


@pytest.fixture
def clock() -> FakeClock:
    """The clock shared by the fake server and the sink."""
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeZendesk]:
    """A running fake Zendesk whose jobs need two polls to complete."""
    with FakeZendesk(clock=clock, job_polls_before_done=2) as server:
        yield server


@pytest.fixture
def sink(fake: FakeZendesk, clock: FakeClock) -> Iterator[ZendeskSink]:
    """A sink writing priority, tags and the category custom field."""
    settings = ZendeskSettings(
        type="zendesk",
        base_url=fake.url,
        email=EMAIL,
        api_token=TOKEN,
        requests_per_minute=700,
        custom_fields={"category": CATEGORY_FIELD, "crmbot_category": CATEGORY_FIELD},
    )
    out = ZendeskSink("zendesk", settings, clock=clock)
    yield out
    out.close()


def tickets(fake: FakeZendesk, count: int) -> list[dict[str, Any]]:
    """`count` new tickets from one requester."""
    user = fake.add_user("Req", "req@example.com")
    return [fake.add_ticket(f"T{n}", f"B{n}", requester_id=user["id"]) for n in range(count)]


_seq = iter(range(1, 1_000_000))


def act(action: str, ticket_id: int, **payload: Any) -> SinkAction:
    """One outbox action on a ticket."""
    n = next(_seq)
    return SinkAction(n, f"key-{n}", action, {"type": "ticket", "id": str(ticket_id)}, payload)


def test_updates_go_in_batches_of_at_most_100_through_update_many_jobs(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    assert isinstance(sink, Sink)
    made = tickets(fake, 150)
    actions = [
        act(
            "update_fields",
            t["id"],
            fields={"priority": "P2", "category": "billing"},
            expected_version=t["updated_at"],
        )
        for t in made
    ]
    [*results] = sink.perform(actions)
    assert [r.status for r in results] == ["done"] * 150
    assert [r.outbox_id for r in results] == [a.outbox_id for a in actions]
    assert fake.count("PUT", "/api/v2/tickets/update_many") == 2
    sizes = [len(r.body["tickets"]) for r in fake.requests if r.path.endswith("update_many.json")]
    assert sizes == [100, 50]
    assert fake.count("GET", "/api/v2/job_statuses") == 4  # each job needs two polls
    for t in made:
        stored = fake.ticket(t["id"])
        assert stored["priority"] == "high"
        assert {"id": CATEGORY_FIELD, "value": "billing"} in stored["custom_fields"]
    assert results[0].detail["version"] == fake.ticket(made[0]["id"])["updated_at"]


def test_fields_note_and_tags_for_one_ticket_become_one_update(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    [t] = tickets(fake, 1)
    [*results] = sink.perform(
        [
            act(
                "update_fields",
                t["id"],
                fields={"priority": "urgent"},
                expected_version=t["updated_at"],
            ),
            act("add_note", t["id"], text="crmbot: urgent because the customer is strategic"),
            act("add_tag", t["id"], tag="crmbot_triaged"),
            act(
                "update_fields",
                t["id"],
                fields={"category": "outage"},
                expected_version=t["updated_at"],
            ),
        ]
    )
    assert [r.status for r in results] == ["done"] * 4
    [update] = [r for r in fake.requests if r.path.endswith("update_many.json")]
    assert len(update.body["tickets"]) == 1
    stored = fake.ticket(t["id"])
    assert stored["priority"] == "urgent"
    assert "crmbot_triaged" in stored["tags"]
    assert {"id": CATEGORY_FIELD, "value": "outage"} in stored["custom_fields"]
    note = fake.comments(t["id"])[-1]
    assert note["public"] is False
    assert note["body"] == "crmbot: urgent because the customer is strategic"


def test_an_agents_later_change_to_an_owned_field_is_a_conflict_not_overwritten(
    fake: FakeZendesk, sink: ZendeskSink, clock: FakeClock
) -> None:
    [t] = tickets(fake, 1)
    [first] = sink.perform(
        [
            act(
                "update_fields",
                t["id"],
                fields={"priority": "normal", "category": "billing"},
                expected_version=t["updated_at"],
            )
        ]
    )
    clock.advance(30)
    fake.agent_update(t["id"], priority="urgent")  # the agent knows better
    [second] = sink.perform(
        [
            act(
                "update_fields",
                t["id"],
                fields={"priority": "low", "category": "refund"},
                expected_version=first.detail["version"],
                previous={"priority": "normal", "category": "billing"},
            )
        ]
    )
    assert second.status == "conflict"
    assert second.detail["conflicts"]["priority"]["current"] == "urgent"
    assert second.detail["written"] == ["category"]
    stored = fake.ticket(t["id"])
    assert stored["priority"] == "urgent"
    assert {"id": CATEGORY_FIELD, "value": "refund"} in stored["custom_fields"]


def test_an_agents_unrelated_change_does_not_block_crmbots_fields(
    fake: FakeZendesk, sink: ZendeskSink, clock: FakeClock
) -> None:
    [t] = tickets(fake, 1)
    [first] = sink.perform(
        [
            act(
                "update_fields",
                t["id"],
                fields={"priority": "normal"},
                expected_version=t["updated_at"],
            )
        ]
    )
    clock.advance(30)
    fake.agent_update(t["id"], status="open")
    [second] = sink.perform(
        [
            act(
                "update_fields",
                t["id"],
                fields={"priority": "high"},
                expected_version=first.detail["version"],
                written={"priority": "normal"},
            )
        ]
    )
    assert second.status == "done"
    assert fake.ticket(t["id"])["priority"] == "high"


def test_a_value_set_by_an_agent_without_a_known_previous_value_is_kept(
    fake: FakeZendesk, sink: ZendeskSink, clock: FakeClock
) -> None:
    [t] = tickets(fake, 1)
    seen = t["updated_at"]
    clock.advance(30)
    fake.agent_update(t["id"], priority="urgent")
    [result] = sink.perform(
        [act("update_fields", t["id"], fields={"priority": "low"}, expected_version=seen)]
    )
    assert result.status == "conflict"
    assert fake.ticket(t["id"])["priority"] == "urgent"


def test_a_repeated_note_is_not_posted_twice(fake: FakeZendesk, sink: ZendeskSink) -> None:
    [t] = tickets(fake, 1)
    note = act("add_note", t["id"], text="crmbot: duplicate of #12")
    assert [r.status for r in sink.perform([note])] == ["done"]
    # the outbox retried after a crash
    assert [r.status for r in sink.perform([note])] == ["done"]
    bodies = [c["body"] for c in fake.comments(t["id"])]
    assert bodies.count("crmbot: duplicate of #12") == 1


def test_a_note_on_a_ticket_unchanged_since_the_expected_version_costs_no_lookup(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    [t] = tickets(fake, 1)
    note = act("add_note", t["id"], text="crmbot: SLA 4h", expected_version=t["updated_at"])
    assert [r.status for r in sink.perform([note])] == ["done"]
    assert fake.count("GET", f"/api/v2/tickets/{t['id']}/comments") == 0
    # retried: the ticket moved, so look
    assert [r.status for r in sink.perform([note])] == ["done"]
    assert fake.count("GET", f"/api/v2/tickets/{t['id']}/comments") == 1
    assert [c["body"] for c in fake.comments(t["id"])].count("crmbot: SLA 4h") == 1


def test_merge_closes_the_duplicate_into_its_target(fake: FakeZendesk, sink: ZendeskSink) -> None:
    target, dup = tickets(fake, 2)
    [result] = sink.perform([act("merge", dup["id"], into=target["id"], note="Same request")])
    assert result.status == "done"
    assert fake.ticket(dup["id"])["status"] == "closed"
    assert fake.comments(target["id"])[-1]["public"] is False
    [merge] = [r for r in fake.requests if r.path.endswith("/merge.json")]
    assert merge.path == f"/api/v2/tickets/{target['id']}/merge.json"
    assert merge.body["ids"] == [dup["id"]]


def test_fields_crmbot_does_not_own_and_missing_tickets_are_skipped_with_a_reason(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    [t] = tickets(fake, 1)
    [*results] = sink.perform(
        [
            act("update_fields", t["id"], fields={"status": "solved"}),
            act("update_fields", 999_999, fields={"priority": "low"}),
            act("send_reply", t["id"], body="hi"),
        ]
    )
    assert [r.status for r in results] == ["skipped"] * 3
    assert "status" in results[0].detail["reason"]
    assert "not found" in results[1].detail["reason"]
    assert fake.ticket(t["id"])["status"] == "new"


def test_fake_rejects_what_zendesk_rejects(fake: FakeZendesk) -> None:
    [t] = tickets(fake, 1)
    with httpx.Client(base_url=fake.url, auth=(f"{EMAIL}/token", TOKEN)) as client:
        too_many = client.put(
            "/api/v2/tickets/update_many.json",
            json={"tickets": [{"id": t["id"], "priority": "low"}] * 101},
        )
        stale = client.put(
            f"/api/v2/tickets/{t['id']}.json",
            json={
                "ticket": {
                    "priority": "low",
                    "safe_update": True,
                    "updated_stamp": "2001-01-01T00:00:00Z",
                }
            },
        )
        bad_priority = client.put(
            f"/api/v2/tickets/{t['id']}.json", json={"ticket": {"priority": "P0"}}
        )
        unauthenticated = client.get("/api/v2/users/me.json", auth=(f"{EMAIL}/token", "nope"))
        merge_six = client.post(
            f"/api/v2/tickets/{t['id']}/merge.json", json={"ids": [1, 2, 3, 4, 5, 6]}
        )
    assert too_many.status_code == 400 and too_many.json()["error"]
    assert stale.status_code == 409 and stale.json()["error"] == "UpdateConflict"
    assert bad_priority.status_code == 422 and bad_priority.json()["error"] == "RecordInvalid"
    assert unauthenticated.status_code == 401
    assert unauthenticated.json() == {"error": "Couldn't authenticate you"}
    assert merge_six.status_code == 400
    assert fake.ticket(t["id"])["priority"] is None


def test_an_agent_change_racing_the_write_is_refused_by_safe_update_and_reported(
    fake: FakeZendesk, sink: ZendeskSink, clock: FakeClock
) -> None:
    [t] = tickets(fake, 1)

    def agent_escalates() -> None:
        clock.advance(2)
        fake.agent_update(t["id"], priority="urgent")

    fake.before_next("PUT", "/api/v2/tickets/update_many", agent_escalates)
    [result] = sink.perform(
        [
            act(
                "update_fields",
                t["id"],
                fields={"priority": "low"},
                expected_version=t["updated_at"],
            )
        ]
    )
    assert result.status == "conflict"
    assert result.detail["conflicts"]["*"]["reason"]
    assert fake.ticket(t["id"])["priority"] == "urgent"


def test_the_pipelines_write_back_payload_sets_native_priority_and_mapped_fields_only(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    [t] = tickets(fake, 1)
    fields = {
        "crmbot_priority": "P1",
        "crmbot_category": "legal",
        "crmbot_reasons": "strategic customer",
        "crmbot_case": None,
    }
    [result] = sink.perform(
        [act("update_fields", t["id"], fields=fields, expected_version=t["updated_at"])]
    )
    assert result.status == "done"
    assert result.detail["written"] == ["crmbot_category", "priority"]
    assert result.detail["unmapped"] == ["crmbot_case", "crmbot_reasons"]
    stored = fake.ticket(t["id"])
    assert stored["priority"] == "urgent"
    assert {"id": CATEGORY_FIELD, "value": "legal"} in stored["custom_fields"]


# -- the vendor's asynchronous answers (issue 9: jobs that fail) ---------------------------


def test_a_merge_job_failing_on_a_closed_ticket_is_skipped_and_the_updates_of_the_call_kept(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    """Zendesk checks a merge in its background job: a closed source fails the job, not the call."""
    target, dup, other = tickets(fake, 3)
    fake.agent_update(dup["id"], status="closed")
    update = act("update_fields", other["id"], fields={"priority": "P2"})
    merge = act("merge", dup["id"], into=target["id"])
    [*results] = sink.perform([update, merge])
    assert [r.status for r in results] == ["done", "skipped"]
    assert "closed" in results[1].detail["reason"]
    assert fake.ticket(other["id"])["priority"] == "high"


def test_a_merge_job_failing_for_a_transient_reason_is_a_retry(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    target, dup = tickets(fake, 2)
    fake.fail_jobs(merge="Internal error, please retry")
    [result] = sink.perform([act("merge", dup["id"], into=target["id"])])
    assert result.status == "retry"
    assert "Internal error" in result.detail["why"]
    fake.fail_jobs()
    [again] = sink.perform([act("merge", dup["id"], into=target["id"])])
    assert again.status == "done"
    assert fake.ticket(dup["id"])["status"] == "closed"


def test_an_update_many_job_failing_as_a_whole_is_a_retry_for_its_actions_only(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    target, dup, other = tickets(fake, 3)
    fake.before_next(
        "PUT", "/api/v2/tickets/update_many", lambda: fake.fail_jobs(update="Job was killed")
    )
    update = act("update_fields", other["id"], fields={"priority": "P2"})
    merge = act("merge", dup["id"], into=target["id"])
    fake.before_next("POST", f"/api/v2/tickets/{target['id']}/merge", fake.fail_jobs)
    [*results] = sink.perform([update, merge])
    assert [r.status for r in results] == ["retry", "done"]
    assert "Job was killed" in results[0].detail["why"]
    assert fake.ticket(other["id"])["priority"] is None


def test_a_closed_ticket_in_update_many_is_skipped_with_zendesks_reason_the_others_done(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    closed, fine = tickets(fake, 2)
    fake.agent_update(closed["id"], status="closed")
    [*results] = sink.perform(
        [
            act("update_fields", closed["id"], fields={"priority": "P1"}),
            act("update_fields", fine["id"], fields={"priority": "P1"}),
        ]
    )
    assert [r.status for r in results] == ["skipped", "done"]
    assert "closed" in results[0].detail["reason"]


def test_a_note_write_answered_500_is_not_resent_blindly_and_the_next_cycle_reads_it_back(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    """update_many carrying a note is not idempotent: a 5xx leaves its outcome unknown."""
    [ticket] = tickets(fake, 1)
    note = act("add_note", ticket["id"], text="Classified as billing")
    fake.fail_after_performing("PUT", "/api/v2/tickets/update_many", 500)
    [first] = sink.perform([note])
    assert first.status == "retry"
    assert fake.count("PUT", "/api/v2/tickets/update_many") == 1  # not re-sent in-process
    [second] = sink.perform([note])
    assert second.status == "done"
    bodies = [c["body"] for c in fake.comments(ticket["id"])]
    assert bodies.count("Classified as billing") == 1


def test_an_outage_reading_one_tickets_comments_defers_only_that_ticket(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    a, b = tickets(fake, 2)
    fake.before_next(
        "GET",
        f"/api/v2/tickets/{a['id']}/comments",
        lambda: fake.fail_next(503, times=5),  # every attempt
    )
    [*results] = sink.perform(
        [act("add_note", a["id"], text="note A"), act("add_note", b["id"], text="note B")]
    )
    assert [r.status for r in results] == ["retry", "done"]
    assert [c["body"] for c in fake.comments(b["id"])][-1] == "note B"
    assert "note A" not in [c["body"] for c in fake.comments(a["id"])]


def test_a_merge_whose_answer_was_lost_is_recognised_as_done_on_retry_not_skipped(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    """The merge POST is not idempotent: crmbot reads its own mark on the source first."""
    target, dup = tickets(fake, 2)
    merge = act("merge", dup["id"], into=target["id"])
    fake.fail_after_performing("POST", f"/api/v2/tickets/{target['id']}/merge", 502)
    [first] = sink.perform([merge])
    assert first.status == "retry"
    assert fake.ticket(dup["id"])["status"] == "closed"  # it did happen
    [second] = sink.perform([merge])
    assert second.status == "done" and second.detail["already_done"] is True
    assert fake.count("POST", f"/api/v2/tickets/{target['id']}/merge") == 1


def test_a_merge_job_failing_on_a_closed_target_is_skipped_with_the_jobs_message(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    """The source is open, so crmbot posts the merge; Zendesk's job refuses the closed target."""
    target, dup = tickets(fake, 2)
    fake.agent_update(target["id"], status="closed")
    [result] = sink.perform([act("merge", dup["id"], into=target["id"])])
    assert result.status == "skipped"
    assert "is closed" in result.detail["reason"] and "merge job" in result.detail["reason"]
    assert fake.ticket(dup["id"])["status"] == "new"


def test_a_field_update_whose_answer_was_lost_is_not_reported_as_a_conflict(
    fake: FakeZendesk, sink: ZendeskSink
) -> None:
    """Resending update_many with the old safe_update stamp would collide with crmbot itself."""
    [ticket] = tickets(fake, 1)
    update = act(
        "update_fields",
        ticket["id"],
        fields={"priority": "P2"},
        expected_version=ticket["updated_at"],
    )
    fake.fail_after_performing("PUT", "/api/v2/tickets/update_many", 502)
    [first] = sink.perform([update])
    assert first.status == "retry"
    [second] = sink.perform([update])
    assert second.status == "done"
    assert fake.ticket(ticket["id"])["priority"] == "high"


def test_the_fake_runs_a_merge_in_its_background_job_and_fails_the_job_not_the_request(
    fake: FakeZendesk,
) -> None:
    """As Zendesk documents: the merge endpoint answers a job_status; the job does the work."""
    target, dup = tickets(fake, 2)
    fake.agent_update(dup["id"], status="closed")
    auth = httpx.BasicAuth(f"{EMAIL}/token", TOKEN)
    with httpx.Client(base_url=fake.url, auth=auth) as client:
        answer = client.post(
            f"/api/v2/tickets/{target['id']}/merge.json", json={"ids": [dup["id"]]}
        )
        assert answer.status_code == 200
        job = answer.json()["job_status"]
        assert job["status"] == "queued"
        for _ in range(3):
            job = client.get(f"/api/v2/job_statuses/{job['id']}.json").json()["job_status"]
        assert job["status"] == "failed" and "closed" in job["message"]
