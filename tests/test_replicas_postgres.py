"""Two replicas on one PostgreSQL store: the same mail in two mailboxes is still one case."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.store import open_store
from bot.store.schema import cases, requests
from tests.helpers.mail import deliver, make_maildir, make_message
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings
from tests.helpers.stores import postgres_schema_url


@pytest.mark.postgres
def test_two_replicas_reading_the_same_message_from_two_mailboxes_make_one_case(
    tmp_path: Path,
) -> None:
    sales, support = make_maildir(tmp_path / "sales"), make_maildir(tmp_path / "support")
    for i in range(30):
        raw = make_message(
            message_id=f"shared-{i}@client.example",
            subject=f"Demande {i}",
            sender=f"c{i}@client.example",
        )
        deliver(sales, raw)
        deliver(support, raw)
    with postgres_schema_url() as url:
        stores = [open_store(url), open_store(url)]
        workers = [
            maildir_worker(
                make_settings(
                    url,
                    {name: maildir_source(path, interval_seconds=1)},
                    worker={"instance_id": name, "batch_size": 5},
                ),
                store,
            )
            for store, (name, path) in zip(
                stores, (("sales", sales), ("support", support)), strict=True
            )
        ]
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(worker: object) -> None:
            try:
                barrier.wait()
                worker.run_once()  # type: ignore[attr-defined]
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors
        for worker in workers:  # a batch that lost a deadlock race is retried here
            worker.run_once()
        with stores[0].connect() as conn:
            assert conn.execute(select(func.count()).select_from(requests)).scalar_one() == 30
            assert conn.execute(select(func.count()).select_from(cases)).scalar_one() == 30
        for store in stores:
            store.dispose()
