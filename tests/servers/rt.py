"""A private Request Tracker 5 for tests: a copy of the pristine database, its own config and port.

The Debian packages `request-tracker5` and `rt5-db-sqlite` ship a ready SQLite database; each
server works on a copy of it (`$DatabaseName` set through a site-config directory of its own,
`RT_SITE_CONFIG_DIR`), so runs never share state. Ticket custom fields are created with RT's
own Perl API before start-up: REST 2 (RT 5.0.3) can create a custom field but has no way to
apply it to a queue.

`FaultProxy` sits in front of the real server for the contract suite: it forwards everything,
and on demand answers 429 (with Retry-After), 5xx or 401, or replays a listing page.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.kit.clock import SYSTEM_CLOCK, Clock
from tests.fakes.loopback import ByteHandler, LoopbackHttpServer

RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
RT_LIB = Path("/usr/share/request-tracker5/lib")
PRISTINE_DB = Path("/var/lib/dbconfig-common/sqlite3/request-tracker5/rtdb")
SYSTEM_SITE_CONFIG_DIR = Path("/etc/request-tracker5/RT_SiteConfig.d")
USERNAME = "root"
PASSWORD = "password"  # RT's documented password for root on a new install
# name, or name=pattern (RT refuses a value not matching it, yet answers the PUT with 200)
CUSTOM_FIELDS = ("crmbot_category", "crmbot_sla_due", r"crmbot_impact=^\d+$", "crmbot_tags")
INSTALL_HINT = (
    "Request Tracker 5 is not installed: "
    "apt-get install -y --no-install-recommends request-tracker5 rt5-db-sqlite"
)
_START_TIMEOUT = 120.0

_SETUP = r"""
use strict; use warnings;
use RT; RT::LoadConfig(); RT::Init();
my $root = RT::User->new(RT->SystemUser);
$root->Load('root');
my ($set, $why) = $root->SetPassword($ENV{CRMBOT_RT_PASSWORD});   # re-hashed at $BcryptCost
die "cannot set root's password: $why\n" unless $set;
my $scrips = RT::Scrips->new(RT->SystemUser);
$scrips->UnLimit;
while (my $scrip = $scrips->Next) {    # no autoreplies or notifications: creates get faster
    my ($off, $err) = $scrip->SetDisabled(1);
    die "cannot disable scrip: $err\n" unless $off;
}
for my $spec (@ARGV) {
    my ($name, $pattern) = split /=/, $spec, 2;
    my $cf = RT::CustomField->new(RT->SystemUser);
    my ($ok, $msg) = $cf->Create(Name => $name, Type => 'Freeform', MaxValues => 1,
                                 Pattern => $pattern // '',
                                 LookupType => 'RT::Queue-RT::Ticket');
    die "cannot create custom field $name: $msg\n" unless $ok;
    ($ok, $msg) = $cf->AddToObject(RT::Queue->new(RT->SystemUser));   # global: every queue
    die "cannot apply custom field $name: $msg\n" unless $ok;
}
"""


def find_rt() -> str | None:
    """Why RT cannot run here, or None when the packages and the database are present."""
    if not RT_SERVER.exists() or not PRISTINE_DB.exists():
        return INSTALL_HINT
    if not os.access(PRISTINE_DB, os.R_OK):
        return f"cannot read {PRISTINE_DB}"
    return None


def in_ci() -> bool:
    """True when the CI environment variable is set to something true."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_rt() -> None:
    """Fail (under CI) or skip (elsewhere) when Request Tracker is not installed."""
    problem = find_rt()
    if problem is None:
        return
    if in_ci():
        pytest.fail(problem, pytrace=False)
    pytest.skip(problem)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RtServer:
    """RT's standalone server on 127.0.0.1:`port`, with its database and config under `root`."""

    def __init__(self, root: Path, port: int, *, custom_fields: tuple[str, ...] = CUSTOM_FIELDS):
        self.root = root
        self.port = port
        self.custom_fields = custom_fields
        self.username = USERNAME
        self.password = PASSWORD
        self.database = root / "rtdb"
        self.config_dir = root / "RT_SiteConfig.d"
        self.log_path = root / "rt-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the web server (REST 2 lives under /REST/2.0/)."""
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["RT_SITE_CONFIG_DIR"] = str(self.config_dir)
        env["PERL5LIB"] = str(RT_LIB)
        return env

    def prepare(self) -> None:
        """Copy the pristine database, write the site config, re-hash root's password, add CFs."""
        shutil.copyfile(PRISTINE_DB, self.database)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for pm in sorted(SYSTEM_SITE_CONFIG_DIR.glob("*.pm")):
            shutil.copyfile(pm, self.config_dir / pm.name)
        (self.config_dir / "99-crmbot-tests.pm").write_text(
            f"Set($DatabaseName, '{self.database}');\n"
            "Set($Timezone, 'UTC');\n"
            "Set($LogToSyslog, undef);\n"
            "Set($LogToSTDERR, 'error');\n"
            "Set($WebPath, '');\n"
            f"Set($WebBaseURL, '{self.url}');\n"
            "Set($MailCommand, 'testfile');\n"  # no real mail from a test server
            "Set($BcryptCost, 4);\n"  # at cost 12 every basic-auth request takes ~1 s here
            "1;\n"
        )
        subprocess.run(
            ["perl", "-e", _SETUP, *self.custom_fields],
            env={**self._env(), "CRMBOT_RT_PASSWORD": self.password},
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        """Start rt-server and return once REST 2 answers."""
        with self.log_path.open("ab") as out:
            self._process = subprocess.Popen(
                [str(RT_SERVER), "--port", str(self.port), "--host", "127.0.0.1"],
                cwd=self.root,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        with httpx.Client(auth=(self.username, self.password), timeout=5) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"rt-server exited: {self.log_path.read_text()[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/REST/2.0/queues/all").status_code == 200:
                        return
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"rt-server did not answer within {_START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """Stop rt-server and its children."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    # -- helpers for tests (REST 2 as an agent would use it) --------------------------------

    def client(self) -> httpx.Client:
        """An httpx client on REST 2 as root."""
        return httpx.Client(
            base_url=f"{self.url}/REST/2.0",
            auth=(self.username, self.password),
            timeout=30,
        )

    def create_ticket(self, subject: str, requestor: str, content: str, **fields: Any) -> int:
        """Create a ticket in the General queue; return its id."""
        body = {
            "Queue": "General",
            "Subject": subject,
            "Requestor": requestor,
            "Content": content,
            "ContentType": "text/plain",
            **fields,
        }
        with self.client() as client:
            response = client.post("/ticket", json=body)
            response.raise_for_status()
            return int(response.json()["id"])

    def update_ticket(self, ticket_id: int, **fields: Any) -> list[str]:
        """Change a ticket as an agent would; return RT's messages."""
        with self.client() as client:
            response = client.put(f"/ticket/{ticket_id}", json=fields)
            response.raise_for_status()
            return list(response.json())

    def set_last_updated(self, ticket_ids: list[int], when: str) -> None:
        """Give tickets one LastUpdated ('YYYY-MM-DD HH:MM:SS', UTC) straight in the database.

        REST 2 cannot make several tickets share a second on purpose; the tie-break on id
        can only be tested this way.
        """
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.database, timeout=30)) as db, db:
            db.executemany(
                "UPDATE Tickets SET LastUpdated = ? WHERE id = ?",
                [(when, ticket_id) for ticket_id in ticket_ids],
            )

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        """The ticket as REST 2 shows it."""
        with self.client() as client:
            response = client.get(f"/ticket/{ticket_id}")
            response.raise_for_status()
            return dict(response.json())

    def custom_field(self, ticket_id: int, name: str) -> str | None:
        """The single value of a ticket custom field, or None."""
        for entry in self.ticket(ticket_id).get("CustomFields") or []:
            if entry.get("name") == name:
                values = entry.get("values") or []
                return values[0] if values else None
        return None

    def history(self, ticket_id: int) -> list[dict[str, Any]]:
        """The ticket's transactions with their type and attachment contents."""
        with self.client() as client:
            response = client.get(
                f"/ticket/{ticket_id}/history", params={"fields": "Type", "per_page": 100}
            )
            response.raise_for_status()
            items = response.json()["items"]
            attachments = client.get(
                f"/ticket/{ticket_id}/attachments",
                params={"fields": "Content,TransactionId,ContentType", "per_page": 100},
            ).json()["items"]
        by_txn: dict[str, list[str]] = {}
        for a in attachments:
            by_txn.setdefault(str(a.get("TransactionId")), []).append(a.get("Content") or "")
        return [{**t, "contents": by_txn.get(str(t["id"]), [])} for t in items]


def _fast_tmp() -> str | None:
    """/dev/shm when there is one: SQLite's fsyncs on a real disk make RT several times slower."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


_shared: RtServer | None = None
_shared_root: Path | None = None
_shared_lock = threading.Lock()


def shared_rt_server() -> RtServer:
    """One RT for the whole test session (start-up is slow); stopped by `stop_shared_rt_server`."""
    global _shared, _shared_root
    require_rt()
    with _shared_lock:
        if _shared is None:
            _shared_root = Path(tempfile.mkdtemp(prefix="crmbot-rt-", dir=_fast_tmp()))
            server = RtServer(_shared_root, free_port())
            server.prepare()
            server.start()
            _shared = server
        return _shared


def stop_shared_rt_server() -> None:
    """Stop the shared RT and remove its files (idempotent)."""
    global _shared, _shared_root
    with _shared_lock:
        if _shared is not None:
            _shared.stop()
            _shared = None
        if _shared_root is not None:
            shutil.rmtree(_shared_root, ignore_errors=True)
            _shared_root = None


@pytest.fixture(scope="session")
def rt_server() -> Iterator[RtServer]:
    """The shared RT server: started on first use, stopped at the end of the session."""
    server = shared_rt_server()
    try:
        yield server
    finally:
        stop_shared_rt_server()


# -- a fault-injecting proxy for the contract suite -----------------------------------------


class FaultProxy(LoopbackHttpServer):
    """Forwards to `upstream`; can answer 429/5xx/401 or replay the last listing page instead."""

    def __init__(self, upstream: str, *, clock: Clock | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.clock = clock or SYSTEM_CLOCK
        self.lock = threading.Lock()
        self._faults: deque[list[Any]] = deque()  # [status, remaining, retry_after]
        self._revoked = False
        self._loop = False
        self._last_listing: dict[str, bytes] = {}
        self._not_before = 0.0
        self._early = 0
        self.count = 0
        self._http = httpx.Client(timeout=60)

    def stop(self) -> None:
        """Stop listening and close the upstream client."""
        super().stop()
        self._http.close()

    def fail_next(self, status: int, times: int, retry_after: float | None = None) -> None:
        """Answer the next `times` requests with `status`."""
        with self.lock:
            self._faults.append([status, times, retry_after])

    def clear(self) -> None:
        """Forward everything again."""
        with self.lock:
            self._faults.clear()
            self._revoked = False
            self._loop = False
            self._not_before = 0.0

    def revoke(self) -> None:
        """Answer 401 from now on."""
        with self.lock:
            self._revoked = True

    def loop(self) -> None:
        """Answer every listing request with the listing page first seen."""
        with self.lock:
            self._loop = True
            self._last_listing.clear()

    def early_retries(self) -> int:
        """Requests that came before a Retry-After given earlier had passed."""
        with self.lock:
            return self._early

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Decide: a fault, a replayed page, or the upstream's answer."""
        listing = method == "GET" and path.split("?")[0].rstrip("/").endswith("/tickets")
        with self.lock:
            self.count += 1
            now = self.clock.monotonic()
            if now < self._not_before:
                self._early += 1
            if self._revoked:
                return 401, {"Content-Type": "application/json"}, b'{"message":"Unauthorized"}'
            if self._faults:
                fault = self._faults[0]
                fault[1] -= 1
                if fault[1] <= 0:
                    self._faults.popleft()
                status, _, retry_after = fault
                extra = {"Content-Type": "application/json"}
                if retry_after is not None:
                    extra["Retry-After"] = str(math.ceil(retry_after))
                    self._not_before = now + retry_after
                return status, extra, json.dumps({"message": "injected fault"}).encode()
            if listing and self._loop and "page" in self._last_listing:
                return 200, {"Content-Type": "application/json"}, self._last_listing["page"]
        forward = {k: v for k, v in headers.items() if k in ("authorization", "content-type")}
        response = self._http.request(method, self.upstream + path, headers=forward, content=body)
        out = response.content
        if listing and response.status_code == 200:
            with self.lock:
                self._last_listing.setdefault("page", out)
        keep = {"Content-Type": response.headers.get("content-type", "application/json")}
        return response.status_code, keep, out


class _ProxyHandler(ByteHandler):
    owner: FaultProxy


FaultProxy.handler_class = _ProxyHandler
