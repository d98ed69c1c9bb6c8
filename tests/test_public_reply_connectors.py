"""Issue 12.1: each CRM connector reads a ticket's last public agent reply as its vendor
documents it: Zendesk (public comment by an agent; cursor pages; users sideloaded), HubSpot
(e-mail engagement sent by an owner; v4 association pages) and the real Request Tracker
(Correspond transaction by a privileged user; a comment is private, and a requestor's own
mail through the gateway is an unprivileged Correspond)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from connectors.hubspot.sink import HubSpotSink
from connectors.kit.replies import PublicReplies
from connectors.rt.settings import RtSettings
from connectors.rt.sink import RtSink
from connectors.zendesk import replies as zendesk_replies
from connectors.zendesk.settings import ZendeskSettings
from connectors.zendesk.sink import ZendeskSink
from tests.fakes.hubspot import FakeHubSpot, settings_for
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk
from tests.servers.rt import RtServer, rt_server

__all__ = ["rt_server"]  # the session fixture, imported so pytest finds it here


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        yield fake


def _zendesk_sink(fake: FakeZendesk) -> ZendeskSink:
    settings = ZendeskSettings(
        type="zendesk", base_url=fake.url, email=EMAIL, api_token=TOKEN, requests_per_minute=700
    )
    return ZendeskSink("zd", settings)


def test_zendesk_reply_is_the_newest_public_comment_by_an_agent(zendesk: FakeZendesk) -> None:
    customer = zendesk.add_user("Chloé Martin", "chloe@client.example")
    agent = zendesk.add_user("Paul Agent", "paul@acme.example", role="agent")
    ticket = zendesk.add_ticket("Facture", "Ma facture est fausse", requester_id=customer["id"])
    zendesk.add_comment(ticket["id"], "Bonjour, nous corrigeons la facture.", author_id=agent["id"])
    zendesk.add_comment(ticket["id"], "note: avoir à faire", author_id=agent["id"], public=False)
    zendesk.add_comment(ticket["id"], "Merci, j'attends.", author_id=customer["id"])
    sink = _zendesk_sink(zendesk)
    try:
        assert isinstance(sink, PublicReplies)
        reply = sink.last_public_reply(str(ticket["id"]))
    finally:
        sink.close()
    assert reply is not None and reply.text == "Bonjour, nous corrigeons la facture."
    assert reply.author == "Paul Agent" and reply.at.tzinfo is not None


def test_zendesk_reply_is_found_across_cursor_pages(
    zendesk: FakeZendesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zendesk_replies, "PAGE_SIZE", 2)
    customer = zendesk.add_user("Chloé Martin", "chloe@client.example")
    admin = zendesk.add_user("Ada Admin", "ada@acme.example", role="admin")
    ticket = zendesk.add_ticket("Facture", "Ma facture est fausse", requester_id=customer["id"])
    zendesk.add_comment(ticket["id"], "Nous regardons.", author_id=admin["id"])
    for n in range(5):
        zendesk.add_comment(ticket["id"], f"note {n}", author_id=admin["id"], public=False)
    sink = _zendesk_sink(zendesk)
    try:
        reply = sink.last_public_reply(str(ticket["id"]))
    finally:
        sink.close()
    assert reply is not None and reply.text == "Nous regardons."
    assert zendesk.count("GET", f"/api/v2/tickets/{ticket['id']}/comments") == 3


def test_zendesk_ticket_with_only_end_user_comments_has_no_reply(zendesk: FakeZendesk) -> None:
    customer = zendesk.add_user("Chloé Martin", "chloe@client.example")
    ticket = zendesk.add_ticket("Facture", "Ma facture est fausse", requester_id=customer["id"])
    zendesk.add_comment(ticket["id"], "Toujours rien ?", author_id=customer["id"])
    sink = _zendesk_sink(zendesk)
    try:
        assert sink.last_public_reply(str(ticket["id"])) is None
    finally:
        sink.close()


def test_hubspot_reply_is_the_newest_email_an_owner_sent() -> None:
    with FakeHubSpot() as fake:
        fake.assoc_page_size = 1  # each association result pages on its own
        contact = fake.create_contact("chloe@client.example", "Chloé", "Martin")
        ticket = fake.create_ticket("Facture", "fausse", contact_id=contact)
        now = fake.clock.time()
        fake.add_email(ticket, "Hello, your refund is on its way.", owner_id="77", at=now - 60)
        fake.add_email(ticket, "Any news?", direction="INCOMING_EMAIL", at=now - 30)
        fake.add_email(ticket, "Automated survey", owner_id=None, at=now - 10)
        fake.add_email(ticket, "An older owner reply.", owner_id="77", at=now - 600)
        sink = HubSpotSink("hs", settings_for(fake))
        try:
            reply = sink.last_public_reply(ticket)
        finally:
            sink.close()
    assert reply is not None and reply.text == "Hello, your refund is on its way."
    assert reply.author == "77"


def test_hubspot_ticket_without_emails_has_no_reply() -> None:
    with FakeHubSpot() as fake:
        ticket = fake.create_ticket("Facture", "fausse")
        sink = HubSpotSink("hs", settings_for(fake))
        try:
            assert sink.last_public_reply(ticket) is None
        finally:
            sink.close()


def _rt_sink(server: RtServer) -> RtSink:
    settings = RtSettings(
        type="rt", url=server.url, username=server.username, password=server.password
    )
    return RtSink("rt", settings)


_GRANT_REPLY_BY_MAIL = (
    "use RT; RT::LoadConfig(); RT::Init(); my $g = RT::Group->new(RT->SystemUser);"
    "$g->LoadSystemInternalGroup('Everyone'); my ($ok, $m) = $g->PrincipalObj->GrantRight("
    "Right => 'ReplyToTicket', Object => RT->System); die $m unless $ok or $m =~ /already/;"
)


def _customer_replies_by_mail(server: RtServer, ticket: int, sender: str, text: str) -> None:
    """The requestor answers by e-mail through RT's mail gateway: an unprivileged Correspond."""
    subprocess.run(["perl", "-e", _GRANT_REPLY_BY_MAIL], env=server._env(), check=True, timeout=120)
    mail = (
        f"From: {sender}\nTo: rt@rt.vm\nSubject: [rt.vm #{ticket}] Facture\n"
        f"Message-ID: <reply-{ticket}@client.example>\n\n{text}\n"
    )
    subprocess.run(
        ["rt-mailgate", "--url", server.url + "/", "--queue", "General", "--action", "correspond"],
        input=mail.encode(),
        check=True,
        timeout=120,
    )


def test_rt_reply_is_the_last_correspondence_by_a_privileged_user(rt_server: RtServer) -> None:
    ticket = rt_server.create_ticket("Facture", "chloe@client.example", "Ma facture est fausse")
    with rt_server.client() as client:
        client.post(
            f"/ticket/{ticket}/correspond",
            json={"Content": "Bonjour,\nLa facture est corrigée.", "ContentType": "text/plain"},
        ).raise_for_status()
    _customer_replies_by_mail(rt_server, ticket, "chloe@client.example", "Merci, et l'avoir ?")
    with rt_server.client() as client:
        client.post(
            f"/ticket/{ticket}/comment",
            json={"Content": "interne : client mécontent", "ContentType": "text/plain"},
        ).raise_for_status()
    types = [t["Type"] for t in rt_server.history(ticket)]
    assert types.count("Correspond") == 2  # the agent's, then the requestor's by mail
    sink = _rt_sink(rt_server)
    try:
        reply = sink.last_public_reply(str(ticket))
    finally:
        sink.close()
    assert reply is not None and reply.text.strip() == "Bonjour,\nLa facture est corrigée."
    assert reply.author == "root"


def test_rt_ticket_without_correspondence_has_no_reply(rt_server: RtServer) -> None:
    ticket = rt_server.create_ticket("Facture", "chloe@client.example", "Ma facture est fausse")
    with rt_server.client() as client:
        client.post(
            f"/ticket/{ticket}/comment", json={"Content": "note", "ContentType": "text/plain"}
        ).raise_for_status()
    sink = _rt_sink(rt_server)
    try:
        assert sink.last_public_reply(str(ticket)) is None
    finally:
        sink.close()
