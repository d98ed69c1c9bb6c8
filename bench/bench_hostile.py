"""Hostile mail benchmark: per sample, its bytes, the seconds and peak RSS of parse + rules.

Each sample runs in its own child process (peak RSS from wait4), under a memory limit and a
timeout, so that a quadratic version is reported as killed instead of taking the machine.
With --before REF the same samples also run on the code of a git revision (the corpus
generator is always this tree's tests/helpers/hostile.py).

Run: python3 bench/bench_hostile.py [--before REF] [--only NAME ...] [--limit-mib 3072]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "helpers" / "hostile.py"

# (name in the report, corpus builder, size knob)
SAMPLES = [
    ("nested_blockquotes_340KB", "nested_blockquotes", 26_000),
    ("nested_blockquotes_3.8MB", "nested_blockquotes", 290_000),
    ("nested_tags", "nested_tags", 60_000),
    ("long_word_60KB", "long_word", 60_000),
    ("many_parts_100k", "many_parts", 100_000),
    ("big_attachment_50MB", "big_attachment", 50 * 1024 * 1024),
    ("nested_multiparts_5000", "nested_multiparts", 5_000),
    ("long_header_lines_1MB", "long_header_lines", 1_000_000),
    ("many_recipients_100k", "many_recipients", 100_000),
    ("base64_garbage_5MB", "base64_garbage", 5_000_000),
    ("unknown_charsets_50k", "unknown_charsets", 50_000),
]

CHILD = r"""
import importlib.util, json, resource, sys, time
from datetime import UTC, datetime
spec = importlib.util.spec_from_file_location("hostile", sys.argv[1])
hostile = importlib.util.module_from_spec(spec); spec.loader.exec_module(hostile)
raw = getattr(hostile, sys.argv[2])(int(sys.argv[3]))
from bot.facts import build_facts
from bot.models import SourceRecord
from bot.stages.normalise import request_from_email
from rules import load_ruleset
ruleset = load_ruleset()
now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
base_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
record = SourceRecord(source="s", source_id="1", kind="email", raw=raw, received_at=now)
request = request_from_email(record, 200_000)
ruleset.decide(build_facts(request, None, None), now=now)
print(json.dumps({"bytes": len(raw), "seconds": time.perf_counter() - start,
                  "base_mib": base_mib, "body_chars": len(request.body_text)}))
"""


def _limit(mib: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (mib * 1024 * 1024, mib * 1024 * 1024))


def run_sample(code: Path, builder: str, size: int, limit_mib: int, timeout: float) -> dict:
    """Run one sample on the code in `code`; seconds, peak RSS, or why it did not finish."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, "-c", CHILD, str(HOSTILE), builder, str(size)]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=code,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: _limit(limit_mib),
    )
    deadline = start + timeout
    status, usage = 0, None
    while time.perf_counter() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    else:
        proc.send_signal(signal.SIGKILL)
        _, status, usage = os.wait4(proc.pid, 0)
        return {"error": f"timeout > {timeout:.0f} s", "peak_mib": usage.ru_maxrss / 1024}
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    peak = usage.ru_maxrss / 1024
    if os.waitstatus_to_exitcode(status) != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["killed"]
        return {"error": last[0][:60], "peak_mib": peak}
    result = json.loads(out)
    result["peak_mib"] = peak
    return result


def export(ref: str) -> Path:
    """The tree of a git revision, unpacked in a temporary folder."""
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="crmbot-before-"))
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _cell(result: dict) -> str:
    if "error" in result:
        return f"{result['error']:>24} {result['peak_mib']:7.0f} MiB"
    return (
        f"{result['seconds']:8.2f} s {result['peak_mib']:7.0f} MiB (input {result['base_mib']:.0f})"
    )


def main() -> None:
    """Print bytes, seconds and peak RSS per sample, before and after."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", help="git revision to compare with (e.g. main)")
    parser.add_argument("--only", nargs="*", help="sample names to run")
    parser.add_argument("--limit-mib", type=int, default=3072, help="address space per child")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per child")
    args = parser.parse_args()
    trees = [("after", ROOT)]
    if args.before:
        trees.insert(0, (f"before ({args.before})", export(args.before)))
    header = f"{'sample':26} {'bytes':>10}  " + "  ".join(f"{name:>44}" for name, _ in trees)
    print(header)
    for label, builder, size in SAMPLES:
        if args.only and label not in args.only and builder not in args.only:
            continue
        results = [
            run_sample(code, builder, size, args.limit_mib, args.timeout) for _, code in trees
        ]
        size_bytes = next((r["bytes"] for r in results if "bytes" in r), 0)
        cells = "  ".join(f"{_cell(r):>44}" for r in results)
        print(f"{label:26} {size_bytes:>10}  {cells}", flush=True)


if __name__ == "__main__":
    main()
