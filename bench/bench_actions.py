"""Which actions each sink performs, and how many planned actions reach their system.

Figures:
1. Per sink type, the action types it declares (ConnectorSpec.actions) and those it refuses.
2. The example mailbox (examples/maildir, 40 messages) through the worker with the default
   rules pack, the mailbox writing back to the HubSpot fake (and replies to a local aiosmtpd
   server): planned actions by type, how many reached the fake / the SMTP server (outbox row
   `done`), how many were refused or skipped and why, and the share that arrived.
   With --no-smtp, replies have no sink: they are listed as case-only, not as planned.

Run: python3 bench/bench_actions.py [--no-smtp]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog

from bot.app import rules_provider
from bot.pipeline import Pipeline
from bot.registry import BUILTIN, build_sink, build_source, get_connector
from bot.settings import Settings
from bot.stages import DEFAULT_STAGES
from bot.store import open_store
from bot.store.schema import audit, outbox
from bot.worker import Worker
from connectors.hubspot.client import HubSpotApi
from connectors.hubspot.setup import ensure_properties
from tests.fakes.hubspot import FakeHubSpot, settings_for
from tests.servers.smtp import PASSWORD, USERNAME

ROOT = Path(__file__).resolve().parents[1]


def declared() -> None:
    """Figure 1: the action types each sink performs."""
    print("1. Action types each sink performs (ConnectorSpec.actions)")
    for name in sorted(BUILTIN):
        spec = get_connector(name)
        if spec.make_sink is None:
            continue
        print(f"   {name:8} {', '.join(sorted(spec.actions))}")
        if spec.actions_for is not None:  # what the sink performs follows its settings
            defaults = spec.settings_model.model_construct(type=name)
            extra = spec.actions_for(defaults) - spec.actions
            if extra:
                print(f"   {'':8}   + {', '.join(sorted(extra))} with its default settings")
        for kind, why in sorted(spec.refusals.items()):
            print(f"   {'':8}   refuses {kind}: {why}")


def run(with_smtp: bool) -> None:
    """Figure 2: the example mailbox, written back to the HubSpot fake."""
    from sqlalchemy import select

    work = Path(tempfile.mkdtemp(prefix="crmbot-bench-actions-"))
    try:
        inbox = work / "maildir"
        shutil.copytree(ROOT / "examples" / "maildir", inbox)
        url = f"sqlite:///{work / 'crmbot.db'}"
        with FakeHubSpot(search_lag=0.0) as fake, _smtp(with_smtp) as smtp:
            ensure_properties(HubSpotApi("crm", settings_for(fake)))
            sinks: dict[str, dict[str, Any]] = {
                "crm": {
                    "type": "hubspot",
                    "base_url": fake.url,
                    "token": fake.token,
                    "search_lag_seconds": 0,
                }
            }
            if smtp is not None:
                sinks["mail"] = {
                    "type": "smtp",
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "security": "plain",
                    "username": USERNAME,
                    "password": PASSWORD,
                    "from_address": "support@acme-energie.fr",
                    "max_per_minute": 1000,
                }
            settings = Settings(
                store={"url": url},
                sources={"inbox": {"type": "maildir", "path": str(inbox), "write_back": "crm"}},
                sinks=sinks,
            )
            store = open_store(url)
            worker = Worker(
                settings,
                store,
                {"inbox": build_source("inbox", settings.sources["inbox"])},
                Pipeline(DEFAULT_STAGES),
                sinks={n: build_sink(n, c)[0] for n, c in sinks.items()},
                rules=rules_provider(settings),
            )
            worker.run_once()
            with store.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(select(outbox))]
                unrouted = [
                    dict(r._mapping)["detail"]
                    for r in conn.execute(
                        select(audit).where(audit.c.event == "actions_not_planned")
                    )
                ]
            store.dispose()
            tickets = len(fake.objects["tickets"])
            notes = len(fake.objects["notes"])
            sent = len(smtp.messages) if smtp is not None else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    planned = Counter(r["action"] for r in rows)
    done = Counter(r["action"] for r in rows if r["state"] == "done")
    print(
        "\n2. examples/maildir -> worker (default pack) -> outbox -> HubSpot fake"
        + (" + SMTP" if with_smtp else "")
    )
    print(f"   {'action':14} {'planned':>8} {'reached':>8}")
    for kind in sorted(planned):
        print(f"   {kind:14} {planned[kind]:8d} {done[kind]:8d}")
    total, arrived = sum(planned.values()), sum(done.values())
    share = 100.0 * arrived / total if total else 0.0
    print(f"   {'total':14} {total:8d} {arrived:8d}   share reached: {share:.1f}%")
    for r in rows:
        if r["state"] != "done":
            print(f"   not done: {r['action']} {r['state']}: {r['result'] or r['last_error']}")
    case_only = Counter(a["action"] for d in unrouted for a in (d or {}).get("actions", []))
    if case_only:
        print(f"   case-only (no sink of their kind configured): {dict(case_only)}")
    print(f"   HubSpot tickets opened for mail cases: {tickets}; notes: {notes}; replies: {sent}")


class _NoSmtp:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _smtp(enabled: bool) -> Any:
    if not enabled:
        return _NoSmtp()
    from tests.servers.smtp import running_smtp

    return running_smtp()


def main() -> None:
    """Print both figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-smtp", action="store_true", help="no SMTP sink (replies case-only)")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    declared()
    run(with_smtp=not args.no_smtp)


if __name__ == "__main__":
    main()
