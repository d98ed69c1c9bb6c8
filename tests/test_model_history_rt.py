"""Training examples from a real Request Tracker 5: resolved tickets and their category."""

from __future__ import annotations

import time

from connectors.rt.settings import RtSettings
from connectors.rt.source import RtSource
from rules.model.history import LabelSpec, read_closed
from tests.servers.rt import RtServer, rt_server

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here


def test_read_closed_takes_resolved_rt_tickets_with_their_category(rt_server: RtServer) -> None:
    resolved = rt_server.create_ticket(
        "Facture en double",
        "erin@example.org",
        "Vous m'avez facturé deux fois le mois de mars.",
        CustomFields={"crmbot_category": "billing"},
    )
    rt_server.update_ticket(resolved, Status="resolved")
    still_open = rt_server.create_ticket(
        "Still open",
        "erin@example.org",
        "Not solved yet.",
        CustomFields={"crmbot_category": "billing"},
    )
    time.sleep(2.05 - (time.time() % 1))  # RT's LastUpdated has one-second resolution
    settings = RtSettings(  # type: ignore[call-arg]
        type="rt",
        url=rt_server.url,
        username=rt_server.username,
        password=rt_server.password,
        custom_fields={"category": "crmbot_category"},
    )
    source = RtSource("rt", settings)
    try:
        by_custom_field = read_closed(source, LabelSpec.parse("custom_fields.category"))
        by_queue = read_closed(source, LabelSpec.parse("queue;General=other"))
    finally:
        source.close()
    ids = {e.id: e for e in by_custom_field}
    assert f"rt:ticket:{resolved}" in ids and f"rt:ticket:{still_open}" not in ids
    example = ids[f"rt:ticket:{resolved}"]
    assert (example.subject, example.category) == ("Facture en double", "billing")
    assert "facturé deux fois" in example.body
    assert {e.id: e.category for e in by_queue}[f"rt:ticket:{resolved}"] == "other"
