"""HubSpot write-back: owned fields only, coalesced and batched, conflicts, notes, merge."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from bot.errors import AuthError, ConfigError
from connectors.base import SinkAction
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.setup import ensure_properties
from connectors.hubspot.sink import HubSpotSink, find_conflicts
from connectors.kit import FakeClock
from tests.fakes.hubspot import FakeHubSpot, settings_for

UPDATE = "POST /crm/v3/objects/(\\w+)/batch/update"
READ = "POST /crm/v3/objects/(\\w+)/batch/read"
_ids = itertools.count(1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeHubSpot]:
    with FakeHubSpot(clock=clock) as server:
        ensure_properties(HubSpotApi("hubspot", settings_for(server), clock=clock))
        yield server


def sink_for(fake: FakeHubSpot, clock: FakeClock, **overrides: Any) -> HubSpotSink:
    return HubSpotSink("hubspot", settings_for(fake, **overrides), clock=clock)


def update(tid: str, fields: dict[str, Any], **payload: Any) -> SinkAction:
    n = next(_ids)
    return SinkAction(
        n, f"key-{n}", "update_fields", {"type": "ticket", "id": tid}, {"fields": fields, **payload}
    )


def note(tid: str, text: str, key: str | None = None) -> SinkAction:
    n = next(_ids)
    return SinkAction(
        n, key or f"note-{n}", "add_note", {"type": "ticket", "id": tid}, {"text": text}
    )


def test_updates_for_one_ticket_are_coalesced_into_one_write(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("t")
    sink = sink_for(fake, clock)
    a = update(tid, {"crmbot_category": "billing"})
    b = update(tid, {"crmbot_priority": "P2", "crmbot_followup_count": 2})
    [*results] = sink.perform([a, b])
    assert [r.status for r in results] == ["done", "done"]
    assert fake.calls(UPDATE) == 1
    props = fake.ticket(tid)
    assert props["crmbot_category"] == "billing"
    assert props["crmbot_priority"] == "P2"
    assert props["crmbot_followup_count"] == "2"
    assert results[0].detail["version"] == props["hs_lastmodifieddate"]
    assert results[0].detail["coalesced"] == 2


def test_250_tickets_are_written_in_batches_of_at_most_100(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tids = [fake.create_ticket(f"t{i}") for i in range(250)]
    sink = sink_for(fake, clock)
    [*results] = sink.perform([update(t, {"crmbot_category": "c"}) for t in tids])
    assert {r.status for r in results} == {"done"}
    assert fake.calls(UPDATE) == 3
    assert fake.calls(READ) == 0  # first writes: no version to check
    assert all(fake.ticket(t)["crmbot_category"] == "c" for t in tids)
    versioned = [
        update(t, {"crmbot_category": "d"}, expected_version=r.detail["version"])
        for t, r in zip(tids, results, strict=True)
    ]
    [*again] = sink.perform(versioned)
    assert {r.status for r in again} == {"done"}
    assert fake.calls(UPDATE) == 6
    assert fake.calls(READ) == 3


def test_a_property_crmbot_does_not_own_is_refused(fake: FakeHubSpot, clock: FakeClock) -> None:
    tid = fake.create_ticket("t")
    [*results] = sink_for(fake, clock).perform([update(tid, {"hs_ticket_priority": "HIGH"})])
    assert results[0].status == "skipped"
    assert "hs_ticket_priority" in results[0].detail["reason"]
    assert fake.calls(UPDATE) == 0


def test_an_agent_change_to_an_owned_field_is_a_conflict_not_an_overwrite(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("t")
    sink = sink_for(fake, clock)
    [first] = sink.perform([update(tid, {"crmbot_priority": "P3"})])
    version = first.detail["version"]
    clock.advance(60)
    fake.agent_update("tickets", tid, crmbot_priority="P1")  # the agent knows better
    clock.advance(60)
    [second] = sink.perform(
        [
            update(
                tid,
                {"crmbot_priority": "P4"},
                expected_version=version,
                written={"crmbot_priority": "P3"},
            )
        ]
    )
    assert second.status == "conflict"
    assert second.detail["conflicts"][0]["property"] == "crmbot_priority"
    assert second.detail["conflicts"][0]["current"] == "P1"
    assert fake.ticket(tid)["crmbot_priority"] == "P1"


def test_an_agent_change_to_another_field_is_not_a_conflict(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("t")
    sink = sink_for(fake, clock)
    [first] = sink.perform([update(tid, {"crmbot_priority": "P3"})])
    clock.advance(60)
    fake.agent_update("tickets", tid, hs_pipeline_stage="3")
    [second] = sink.perform(
        [
            update(
                tid,
                {"crmbot_priority": "P2"},
                expected_version=first.detail["version"],
                written={"crmbot_priority": "P3"},
            )
        ]
    )
    assert second.status == "done"
    assert fake.ticket(tid)["crmbot_priority"] == "P2"


def test_one_rejected_record_is_skipped_with_hubspots_reason_and_the_rest_written(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    good = fake.create_ticket("good")
    bad = fake.create_ticket("bad")
    [*results] = sink_for(fake, clock).perform(
        [
            update(good, {"crmbot_category": "ok"}),
            update(bad, {"crmbot_impact_score": "not a number"}),
        ]
    )
    assert [r.status for r in results] == ["done", "skipped"]
    assert "not a valid number" in results[1].detail["reason"]
    assert fake.ticket(good)["crmbot_category"] == "ok"


def test_missing_ticket_is_skipped(fake: FakeHubSpot, clock: FakeClock) -> None:
    [result] = sink_for(fake, clock).perform([update("999999", {"crmbot_category": "x"})])
    assert result.status == "skipped"
    assert "not found" in result.detail["reason"]


def test_note_is_created_once_and_associated_with_the_ticket(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("t")
    sink = sink_for(fake, clock)
    action = note(tid, "Categorised as billing <because> the subject says invoice\nP2")
    [first] = sink.perform([action])
    assert first.status == "done"
    assert fake.notes_for_ticket(tid) == [
        "Categorised as billing &lt;because&gt; the subject says invoice<br>P2"
    ]
    [again] = sink.perform([action])  # the dispatcher retried after a crash
    assert again.status == "done" and again.detail["already_done"] is True
    assert len(fake.notes_for_ticket(tid)) == 1


def test_notes_for_many_tickets_take_a_few_calls(fake: FakeHubSpot, clock: FakeClock) -> None:
    tids = [fake.create_ticket(f"t{i}") for i in range(150)]
    before = fake.calls()
    [*results] = sink_for(fake, clock).perform([note(t, "hello") for t in tids])
    assert {r.status for r in results} == {"done"}
    # per 100 notes: associations read, batch create (no existing notes to read)
    assert fake.calls() - before == 4


def test_merge_is_refused_unless_enabled_then_done_once(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    keep = fake.create_ticket("original")
    dup = fake.create_ticket("duplicate")
    action = SinkAction(next(_ids), "m1", "merge", {"type": "ticket", "id": dup}, {"into": keep})
    [refused] = sink_for(fake, clock).perform([action])
    assert refused.status == "skipped" and "disabled" in refused.detail["reason"]
    sink = sink_for(fake, clock, enable_merge=True)
    [done] = sink.perform([action])
    assert done.status == "done"
    assert fake.calls("POST /crm/v3/objects/(\\w+)/merge") == 1
    [again] = sink.perform([action])
    assert again.status == "done" and again.detail["already_done"] is True
    assert fake.calls("POST /crm/v3/objects/(\\w+)/merge") == 1


def test_a_429_storm_during_write_back_loses_nothing(fake: FakeHubSpot, clock: FakeClock) -> None:
    tid = fake.create_ticket("t")
    fake.fail_with_429(3, 4.0)
    [result] = sink_for(fake, clock).perform([update(tid, {"crmbot_category": "x"})])
    assert result.status == "done"
    assert fake.early_retries() == 0
    assert fake.ticket(tid)["crmbot_category"] == "x"


def test_a_revoked_token_raises_auth_error(fake: FakeHubSpot, clock: FakeClock) -> None:
    tid = fake.create_ticket("t")
    fake.revoke_credentials()
    with pytest.raises(AuthError):
        list(sink_for(fake, clock).perform([update(tid, {"crmbot_category": "x"})]))


def test_conflict_rule_treats_equal_timestamps_and_numbers_as_unchanged() -> None:
    current = {
        "hs_lastmodifieddate": "2026-01-02T00:00:00.000Z",
        "crmbot_resolution_due": "2026-01-05T10:00:00.000Z",
        "crmbot_impact_score": "3",
    }
    assert (
        find_conflicts(
            current,
            {"crmbot_resolution_due": "2026-01-06T10:00:00Z", "crmbot_impact_score": "5"},
            {"crmbot_resolution_due": "2026-01-05T10:00:00Z", "crmbot_impact_score": 3.0},
            "2026-01-01T00:00:00Z",
        )
        == []
    )


def test_writing_before_setup_is_a_config_error_not_a_skip_per_ticket(clock: FakeClock) -> None:
    with FakeHubSpot(clock=clock) as fake:
        tids = [fake.create_ticket(f"t{i}") for i in range(3)]
        sink = sink_for(fake, clock)
        with pytest.raises(ConfigError) as caught:
            list(sink.perform([update(t, {"crmbot_category": "x"}) for t in tids]))
        assert "crmbot setup hubspot" in str(caught.value)
        assert fake.calls("PATCH") == 0


# -- the hard answers HubSpot documents (issue 9) ------------------------------------------

CREATE = "POST /crm/v3/objects/(\\w+)/batch/create"


def test_a_note_key_on_the_second_association_page_is_found_and_no_duplicate_is_created(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    """v4 association reads page per result: results[].paging.next.after."""
    tid = fake.create_ticket("t")
    sink = sink_for(fake, clock)
    for i in range(3):  # earlier notes fill the first association pages
        list(sink.perform([note(tid, f"earlier note {i}")]))
    action = note(tid, "the note crmbot wrote last")
    assert next(iter(sink.perform([action]))).status == "done"
    fake.assoc_page_size = 1
    [again] = sink.perform([action])
    assert again.status == "done" and again.detail["already_done"] is True
    assert len(fake.notes_for_ticket(tid)) == 4


def test_a_207_batch_update_skips_the_ticket_hubspot_names_and_writes_the_others(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    fake.missing_ids_answer = "207"
    good = fake.create_ticket("good")
    [*results] = sink_for(fake, clock).perform(
        [update("999999", {"crmbot_category": "x"}), update(good, {"crmbot_category": "x"})]
    )
    assert [r.status for r in results] == ["skipped", "done"]
    assert "OBJECT_NOT_FOUND" in results[0].detail["reason"]
    assert fake.ticket(good)["crmbot_category"] == "x"


def test_a_207_answer_with_a_result_left_out_is_a_retry_not_a_crash(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tids = [fake.create_ticket(f"t{i}") for i in range(3)]
    fake.drop_batch_results(1)
    [*results] = sink_for(fake, clock).perform([update(t, {"crmbot_category": "x"}) for t in tids])
    assert sorted(r.status for r in results) == ["done", "done", "retry"]
    assert "without a result" in next(r for r in results if r.status == "retry").detail["why"]


@pytest.mark.parametrize(("status", "retry_after", "wait"), [(423, None, 2.0), (477, 3.0, 3.0)])
def test_423_locked_and_477_migration_are_waited_out_not_dropped(
    fake: FakeHubSpot, clock: FakeClock, status: int, retry_after: float | None, wait: float
) -> None:
    tid = fake.create_ticket("t")
    sink = sink_for(fake, clock)
    fake.fail_with_status(status, 2, retry_after=retry_after)
    [result] = sink.perform([update(tid, {"crmbot_category": "x"})])
    assert result.status == "done"
    assert fake.ticket(tid)["crmbot_category"] == "x"
    assert clock.sleeps[-2:] == [wait, wait]
    assert fake.early_retries() == 0


def test_a_daily_limit_429_defers_the_actions_until_the_quota_returns(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("t")
    fake.fail_with_429(1, None, policy="DAILY")
    [result] = sink_for(fake, clock).perform([update(tid, {"crmbot_category": "x"})])
    assert result.status == "retry"
    assert result.detail["retry_after"] == 3600.0
    assert fake.calls(UPDATE) == 1


def test_shuffled_batch_results_are_matched_to_their_actions_not_by_position(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    fake.shuffle_results = True
    tids = [fake.create_ticket(f"t{i}") for i in range(8)]
    sink = sink_for(fake, clock, note_idempotency=False)
    actions = [note(t, f"note for {t}") for t in tids]
    [*results] = sink.perform(actions)
    for action, result in zip(actions, results, strict=True):
        body = fake.objects["notes"][result.detail["note_id"]].properties["hs_note_body"]
        assert body == action.payload["text"]


def test_a_note_batch_whose_answer_is_lost_is_read_back_not_created_twice(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("t")
    fake.fail_after_performing(CREATE, 502)
    [result] = sink_for(fake, clock).perform([note(tid, "Categorised as billing")])
    assert result.status == "done" and result.detail["read_back"] is True
    assert fake.calls(CREATE) == 1
    assert len(fake.notes_for_ticket(tid)) == 1


def test_notes_left_out_of_a_207_answer_are_read_back(fake: FakeHubSpot, clock: FakeClock) -> None:
    tids = [fake.create_ticket(f"t{i}") for i in range(3)]
    fake.drop_batch_results(2)
    [*results] = sink_for(fake, clock).perform([note(t, "hello") for t in tids])
    assert [r.status for r in results] == ["done"] * 3
    assert all(len(fake.notes_for_ticket(t)) == 1 for t in tids)


def test_an_outage_while_writing_notes_keeps_the_updates_already_done(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("t")
    fake.before_next(
        "POST /crm/v4/associations", lambda: fake.fail_with_status(503, 20, retry_after=1.0)
    )
    [*results] = sink_for(fake, clock).perform(
        [update(tid, {"crmbot_category": "x"}), note(tid, "why")]
    )
    assert [r.status for r in results] == ["done", "retry"]
    assert results[0].detail["version"]
    assert fake.ticket(tid)["crmbot_category"] == "x"


def test_a_merge_whose_answer_was_lost_is_found_done_on_retry(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    keep = fake.create_ticket("original")
    dup = fake.create_ticket("duplicate")
    action = SinkAction(next(_ids), "m2", "merge", {"type": "ticket", "id": dup}, {"into": keep})
    sink = sink_for(fake, clock, enable_merge=True)
    fake.fail_after_performing("POST /crm/v3/objects/(\\w+)/merge", 502)
    [first] = sink.perform([action])
    assert first.status == "retry"
    [second] = sink.perform([action])
    assert second.status == "done" and second.detail["already_done"] is True
    assert fake.calls("POST /crm/v3/objects/(\\w+)/merge") == 1


def test_an_escalation_whose_note_failed_is_not_done_and_no_result_is_unexpected(
    fake: FakeHubSpot, clock: FakeClock
) -> None:
    tid = fake.create_ticket("t")
    sink = sink_for(fake, clock)
    n = next(_ids)
    message = "Mise en demeure : à traiter ce jour."
    action = SinkAction(
        n, f"esc-{n}", "escalate", {"type": "ticket", "id": tid}, {"to": "P1", "message": message}
    )
    fake.before_next(
        "POST /crm/v3/objects/(\\w+)/batch/create", lambda: fake.fail_with_status(503, 50)
    )
    [*results] = sink.perform([action])
    assert [r.outbox_id for r in results] == [n], "one result per action, none for the note"
    assert results[0].status != "done", "the escalation's note was not written"
    fake.clear_faults()
    [*again] = sink.perform([action])
    assert [(r.outbox_id, r.status) for r in again] == [(n, "done")]
    assert fake.notes_for_ticket(tid) == [message]
    assert fake.ticket(tid)["hs_ticket_priority"] == "URGENT"
