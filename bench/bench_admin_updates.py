"""Administrative-update extraction on a frozen corpus: field precision/recall, auto-apply share.

    python3 bench/bench_admin_updates.py [--json] [--errors] [FILE]
    # default FILE: bench/data/eval/admin_updates.jsonl

The corpus is frozen and written blind: this script reads it, never tunes on it. A sender
whose relation is "customer" counts as verified; every other relation as unverified.
Addresses are compared normalised (case, accents, whitespace, punctuation).

Two precisions: `precision` counts every value extracted, the ones only proposed in an
agent's note included; `applied_precision` counts only the values written to the contact
unseen (what issue 12's "a wrong change applied is worse than a note" is about).
`--errors` lists each wrong or missed value (for a tuning set only: never on a blind one).
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import phonenumbers

from bot.extract.admin_update import FIELDS, extract_admin_update, plan_update, region_for

DEFAULT = Path(__file__).parent / "data" / "eval" / "admin_updates.jsonl"


# A trailing country name is presentation, not a different address.
_COUNTRIES = {
    "france", "belgique", "belgium", "suisse", "switzerland", "schweiz", "canada",
    "royaume uni", "united kingdom", "uk", "ireland", "irlande", "australia", "australie",
    "usa", "united states", "etats unis",
}  # fmt: skip


def normalise(field: str, value: Any, region: str = "FR") -> str | None:
    """A value as compared: addresses and names folded, phones as E.164 (national numbers read
    in the mail's region), IBANs compact, e-mails lower-cased, a billing contact without its
    title ("Mme", "Mr"). An address compares as its set
    of words without a trailing country, so "8 rue X, 75001 Paris, France" and
    "8 rue X 75001 PARIS" are the same address."""
    if value is None or value == "":
        return None
    text = str(value)
    if field == "iban":
        return re.sub(r"\s+", "", text).upper()
    if field == "phone":
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            return re.sub(r"[^\d+]", "", text)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    if field == "email":
        return folded.strip()
    words = " ".join(re.sub(r"[^\w]+", " ", folded).split())
    if field == "billing_contact":  # "Mme Sophie Marchal" is Sophie Marchal
        words = re.sub(r"^(?:m|mme|mlle|madame|monsieur|mr|mrs|ms|miss|dr) ", "", words)
    if field == "postal_address":
        for country in sorted(_COUNTRIES, key=len, reverse=True):
            if words.endswith(" " + country):
                words = words[: -len(country) - 1]
                break
        return " ".join(sorted(words.split()))
    return words


def evaluate(path: Path) -> dict[str, Any]:
    """Field-level precision/recall, share applied, and changes applied from unverified senders."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    mails = applied = applied_unverified = applied_wrong = applied_not_expected = 0
    applied_fields = applied_right = should_apply = applied_as_expected = 0
    errors: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        mails += 1
        update = extract_admin_update(
            item["subject"], item["body"], sender=item["from_email"],
            locale=item.get("locale"), lang=item.get("lang"),
        )  # fmt: skip
        got = update.values()
        expected = item.get("expected") or {}
        region = region_for(item.get("locale"), item.get("lang"))
        wrong = False
        right: set[str] = set()
        verified = item["sender_relation"] == "customer"
        plan = plan_update(update, verified)
        for field in FIELDS:
            want = normalise(field, expected.get(field), region)
            have = normalise(field, got.get(field), region)
            if have is not None and have == want:
                tp[field] += 1
                right.add(field)
            else:
                if have is not None:
                    fp[field] += 1
                    wrong = True
                if want is not None:
                    fn[field] += 1
                if have is None and want is None:
                    continue
                errors.append({
                    "id": item.get("id"), "field": field, "got": got.get(field),
                    "expected": expected.get(field), "applied": field in plan.apply,
                    "reasons": plan.reasons,
                })  # fmt: skip
        should_apply += bool(item.get("should_apply", False))
        if plan.apply:
            applied += 1
            applied_as_expected += bool(item.get("should_apply", False))
            applied_unverified += not verified
            applied_wrong += wrong
            applied_not_expected += not item.get("should_apply", False)
            applied_fields += len(plan.apply)
            applied_right += len(right & set(plan.apply))
    fields = {}
    for field in FIELDS:
        p_den, r_den = tp[field] + fp[field], tp[field] + fn[field]
        fields[field] = {
            "precision": round(tp[field] / p_den, 4) if p_den else None,
            "recall": round(tp[field] / r_den, 4) if r_den else None,
            "tp": tp[field], "fp": fp[field], "fn": fn[field],
        }  # fmt: skip
    all_tp, all_fp, all_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    return {
        "mails": mails,
        "precision": round(all_tp / (all_tp + all_fp), 4) if all_tp + all_fp else None,
        "recall": round(all_tp / (all_tp + all_fn), 4) if all_tp + all_fn else None,
        "fields": fields,
        "applied_share": round(applied / mails, 4) if mails else 0.0,
        "applied_fields": applied_fields,
        "applied_precision": round(applied_right / applied_fields, 4) if applied_fields else None,
        "applied_of_should_apply": (
            round(applied_as_expected / should_apply, 4) if should_apply else None
        ),
        "applied_from_unverified_senders": applied_unverified,
        "applied_with_a_wrong_field": applied_wrong,
        "applied_where_not_expected": applied_not_expected,
        "errors": errors,
    }


def main(argv: list[str]) -> None:
    """Print the figures for the corpus given (or the frozen one), as text or `--json`."""
    files = [a for a in argv if not a.startswith("--")]
    path = Path(files[0]) if files else DEFAULT
    result = evaluate(path)
    errors = result.pop("errors")
    if "--json" in argv:
        print(json.dumps(result, indent=2))
        return
    print(f"corpus: {path} ({result['mails']} mails)")
    print(f"field precision {result['precision']}  recall {result['recall']}")
    for field, figures in result["fields"].items():
        print(f"  {field:16} P={figures['precision']}  R={figures['recall']}  "
              f"tp={figures['tp']} fp={figures['fp']} fn={figures['fn']}")  # fmt: skip
    print(f"applied automatically: {result['applied_share']:.1%}")
    print(
        f"precision of the values applied: {result['applied_precision']}"
        f" ({result['applied_fields']} fields applied)"
    )
    print(f"applied where should_apply is true: {result['applied_of_should_apply']}")
    print(
        f"applied from a sender that is not 'customer': {result['applied_from_unverified_senders']}"
    )
    print(f"applied with a wrong field: {result['applied_with_a_wrong_field']}")
    print(f"applied where should_apply is false: {result['applied_where_not_expected']}")
    if "--errors" in argv:
        for error in errors:
            print(json.dumps(error, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
