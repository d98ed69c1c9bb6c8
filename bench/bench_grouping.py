"""Grouping quality on a labelled message set, through the real pipeline, against a baseline.

Usage: python3 bench/bench_grouping.py [FILE.jsonl] [--json] [--why]

FILE (default bench/data/eval/grouping.jsonl, the frozen blind corpus the lead places) has one
message per line: id, conversation (expected case, e.g. "C01"), also_relates_to (list of other
conversations it may be grouped with, without penalty), mailbox, message_id, in_reply_to,
references (list), date (ISO with offset), from_name, from_email, to, cc, subject, body, lang,
situation. A subject may hold `{ref:CXX}`: the case reference crmbot gave to the first message
of conversation CXX, filled in at feed time.

Each message is built as RFC 5322 mail and fed in date order through the real pipeline: one
Maildir source per mailbox, a SQLite store, the default rules, the worker's clock at the
message's date. A message's predicted group is its case (soft merges followed); a message
without a case (an auto-reply) is alone. Printed: pairwise precision, recall, F1 and false
merges (pairs grouped that should not be), for crmbot and for a plain In-Reply-To/References
union-find, then recall per situation; with --why, the false merges counted by the reason code
by which the later message of each pair joined its case (codes only, no text).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bot.app import rules_provider  # noqa: E402
from bot.store import open_store  # noqa: E402
from bot.store.schema import audit, cases, requests  # noqa: E402
from tests.helpers.mail import deliver, make_maildir  # noqa: E402
from tests.helpers.runtime import maildir_source, maildir_worker, make_settings  # noqa: E402

DEFAULT_FILE = ROOT / "bench" / "data" / "eval" / "grouping.jsonl"
_REF = re.compile(r"\{ref:([A-Za-z0-9_-]+)\}")


@dataclass(frozen=True, slots=True)
class Scores:
    """Pairwise scores of one grouping against the expected one."""

    precision: float
    recall: float
    f1: float
    true_pairs: int
    false_merges: int
    missed_pairs: int


def load(path: Path) -> list[dict[str, Any]]:
    """The labelled messages, in date order (file order breaks ties)."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for index, item in enumerate(items):
        item["_order"] = index
        item["_date"] = datetime.fromisoformat(item["date"])
    return sorted(items, key=lambda i: (i["_date"], i["_order"]))


def _angle(message_id: str) -> str:
    text = (message_id or "").strip()
    return text if text.startswith("<") else f"<{text}>"


def _bare(message_id: str | None) -> str:
    return (message_id or "").strip().strip("<>")


def _addresses(value: Any) -> str:
    if not value:
        return ""
    return ", ".join(value) if isinstance(value, list) else str(value)


def build_message(item: dict[str, Any], refs: dict[str, str]) -> bytes:
    """One labelled message as RFC 5322 bytes, `{ref:CXX}` replaced from `refs`."""
    msg = EmailMessage()
    msg["From"] = formataddr((item.get("from_name") or "", item["from_email"]))
    msg["To"] = _addresses(item.get("to")) or f"{item.get('mailbox', 'support')}@crmbot.invalid"
    if item.get("cc"):
        msg["Cc"] = _addresses(item["cc"])
    subject = _REF.sub(lambda m: refs.get(m.group(1), ""), item.get("subject") or "")
    msg["Subject"] = subject
    msg["Date"] = format_datetime(item["_date"])
    msg["Message-ID"] = _angle(item["message_id"])
    if item.get("in_reply_to"):
        msg["In-Reply-To"] = _angle(item["in_reply_to"])
    if item.get("references"):
        msg["References"] = " ".join(_angle(r) for r in item["references"])
    msg.set_content(item.get("body") or "")
    return bytes(msg)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _source_name(mailbox: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(mailbox or "support"))[:60] or "support"


def run_pipeline(
    items: list[dict[str, Any]], workdir: Path, joined_by: dict[str, str] | None = None
) -> dict[str, Any]:
    """Feed the messages through crmbot; message id -> predicted group. `joined_by`, when
    given, is filled with message id -> the reason code by which it joined a case."""
    mailboxes = sorted({_source_name(i.get("mailbox")) for i in items})
    dirs = {name: make_maildir(workdir / "mail" / name) for name in mailboxes}
    url = f"sqlite:///{workdir / 'grouping.db'}"
    store = open_store(url)
    settings = make_settings(
        url,
        {name: maildir_source(path) for name, path in dirs.items()},
        log={"level": "warning"},
    )
    worker = maildir_worker(settings, store, rules=rules_provider(settings))
    worker.clock = _Clock(items[0]["_date"] if items else datetime.now().astimezone())
    first_of: dict[str, str] = {}  # conversation -> its first message's Message-ID
    refs: dict[str, str] = {}
    for item in items:
        first_of.setdefault(item["conversation"], _bare(item["message_id"]))
        for conv in set(_REF.findall(item.get("subject") or "")) - refs.keys():
            ref = _reference_of(store, first_of.get(conv))
            if ref:
                refs[conv] = ref
        mailbox = _source_name(item.get("mailbox"))
        deliver(dirs[mailbox], build_message(item, refs))
        worker.clock.now = item["_date"]
        worker.poll_source(mailbox)
    groups = _groups(store, [_bare(i["message_id"]) for i in items])
    if joined_by is not None:
        codes = _join_codes(store)
        joined_by.update({i["id"]: codes.get(_bare(i["message_id"]), "-") for i in items})
    store.dispose()
    return {i["id"]: groups.get(_bare(i["message_id"])) or f"alone:{i['id']}" for i in items}


def _reference_of(store: Any, message_id: str | None) -> str | None:
    if not message_id:
        return None
    with store.connect() as conn:
        case_id = conn.execute(
            select(requests.c.case_id).where(requests.c.message_id == message_id).limit(1)
        ).scalar()
        if case_id is None:
            return None
        return conn.execute(select(cases.c.reference).where(cases.c.id == case_id)).scalar()


def _join_codes(store: Any) -> dict[str, str]:
    """Message-ID -> the first reason code (after the contact's) of its attachment to a case."""
    with store.connect() as conn:
        rows = conn.execute(
            select(requests.c.message_id, audit.c.detail)
            .join(audit, audit.c.request_id == requests.c.id)
            .where(audit.c.event == "request_attached")
        ).all()
    out: dict[str, str] = {}
    for message_id, detail in rows:
        codes = [
            r.get("code")
            for r in (detail or {}).get("reasons") or []
            if isinstance(r, dict) and not str(r.get("code", "")).startswith("contact_")
        ]
        out.setdefault(message_id, str(codes[0]) if codes else "-")
    return out


def false_merges_by_join(
    items: list[dict[str, Any]], predicted: dict[str, Any], joined_by: dict[str, str]
) -> dict[str, int]:
    """False-merge pairs counted by how the later message of each pair joined its case."""
    conv = {i["id"]: i["conversation"] for i in items}
    related = {i["id"]: set(i.get("also_relates_to") or []) for i in items}
    order = [i["id"] for i in items]  # load() sorts by date
    counts: dict[str, int] = defaultdict(int)
    for a, b in itertools.combinations(order, 2):
        if conv[a] == conv[b] or conv[b] in related[a] or conv[a] in related[b]:
            continue
        if predicted[a] == predicted[b]:
            counts[joined_by.get(b, "-")] += 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _groups(store: Any, message_ids: list[str]) -> dict[str, str]:
    """Message-ID -> root case (soft merges followed)."""
    with store.connect() as conn:
        merged = dict(conn.execute(select(cases.c.id, cases.c.merged_into)).all())
        rows = conn.execute(
            select(requests.c.message_id, requests.c.case_id).where(
                requests.c.message_id.in_(message_ids)
            )
        ).all()
    out: dict[str, str] = {}
    for message_id, case_id in rows:
        if case_id is None:
            continue
        hops = 0
        while merged.get(case_id) and hops < 50:
            case_id, hops = merged[case_id], hops + 1
        out.setdefault(message_id, f"case:{case_id}")
    return out


def baseline(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A plain In-Reply-To/References union-find over Message-IDs: message id -> group."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    for item in items:
        mid = _bare(item["message_id"])
        find(mid)
        for other in [item.get("in_reply_to"), *(item.get("references") or [])]:
            if other:
                union(mid, _bare(other))
    return {i["id"]: find(_bare(i["message_id"])) for i in items}


def pairwise(
    items: list[dict[str, Any]], predicted: dict[str, Any], only: set[str] | None = None
) -> Scores:
    """Pairwise precision/recall/F1 and false merges; pairs marked also_relates_to are
    neutral (neither rewarded nor punished). `only`: pairs touching these message ids."""
    conv = {i["id"]: i["conversation"] for i in items}
    related = {i["id"]: set(i.get("also_relates_to") or []) for i in items}
    tp = fp = fn = 0
    for a, b in itertools.combinations([i["id"] for i in items], 2):
        if only is not None and a not in only and b not in only:
            continue
        same = conv[a] == conv[b]
        if not same and (conv[b] in related[a] or conv[a] in related[b]):
            continue
        grouped = predicted[a] == predicted[b]
        tp += same and grouped
        fp += grouped and not same
        fn += same and not grouped
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, tp, fp, fn)


def _line(name: str, s: Scores) -> str:
    return (
        f"{name:<22} precision {s.precision:.3f}  recall {s.recall:.3f}  F1 {s.f1:.3f}  "
        f"false merges {s.false_merges}  (pairs: {s.true_pairs} found, "
        f"{s.missed_pairs} missed)"
    )


def by_situation(
    items: list[dict[str, Any]], predicted: dict[str, Any]
) -> Iterable[tuple[str, int, Scores]]:
    """Scores restricted to the pairs that touch each situation's messages."""
    ids: dict[str, set[str]] = defaultdict(set)
    for item in items:
        ids[str(item.get("situation") or "-")].add(item["id"])
    for situation in sorted(ids):
        yield situation, len(ids[situation]), pairwise(items, predicted, ids[situation])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--why",
        action="store_true",
        help="also count false merges by how the later message joined (reason codes only)",
    )
    args = parser.parse_args(argv)
    structlog.configure(  # log lines to stderr: stdout carries the figures (--json)
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    items = load(args.file)
    with tempfile.TemporaryDirectory(prefix="crmbot-grouping-") as tmp:
        joined_by: dict[str, str] = {}
        crmbot = run_pipeline(items, Path(tmp), joined_by)
    plain = baseline(items)
    ours, theirs = pairwise(items, crmbot), pairwise(items, plain)
    if args.json:
        print(json.dumps({"crmbot": _dict(ours), "baseline": _dict(theirs)}))
        return 0
    conversations = len({i["conversation"] for i in items})
    print(f"{args.file}: {len(items)} messages, {conversations} conversations")
    print(_line("crmbot", ours))
    print(_line("In-Reply-To union-find", theirs))
    print("by situation (pairs touching its messages): recall crmbot / baseline, false merges")
    base = {s: sc for s, _, sc in by_situation(items, plain)}
    for situation, count, scores in by_situation(items, crmbot):
        print(
            f"  {situation:<28} {count:>4} msgs  recall {scores.recall:.2f} / "
            f"{base[situation].recall:.2f}  false merges {scores.false_merges}"
        )
    if args.why:
        print("false merges by how the later message joined its case (reason code: pairs)")
        for code, pairs in false_merges_by_join(items, crmbot, joined_by).items():
            print(f"  {code:<34} {pairs}")
    return 0


def _dict(s: Scores) -> dict[str, Any]:
    return {
        "precision": round(s.precision, 4),
        "recall": round(s.recall, 4),
        "f1": round(s.f1, 4),
        "true_pairs": s.true_pairs,
        "false_merges": s.false_merges,
        "missed_pairs": s.missed_pairs,
    }


if __name__ == "__main__":
    sys.exit(main())
