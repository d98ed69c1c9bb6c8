"""A private Dovecot IMAP server for tests: its own config, port, mail dir and process group."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from imapclient import IMAPClient

USERNAME = "crmbot"
PASSWORD = "s3cret-test-password"  # a throwaway test server's password

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


def find_dovecot() -> str | None:
    """Return the path of the dovecot binary, or None when it is not installed."""
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DovecotServer:
    """A throwaway Dovecot listening on 127.0.0.1:`port`, with its files under `root`.

    `root` must be a fresh directory that the `dovecot` user can traverse (not pytest's
    0700 `tmp_path`). One user, `USERNAME` / `PASSWORD`, keeps its Maildir under `root/mail`.
    """

    def __init__(
        self,
        root: Path,
        port: int,
        *,
        binary: str = "dovecot",
        imap_capability: str | None = None,
    ) -> None:
        self.root = root
        self.port = port
        self.binary = binary
        # What the server announces after login (Dovecot's `imap_capability`), None: its default.
        self.imap_capability = imap_capability
        self.username = USERNAME
        self.password = PASSWORD
        self.host = "127.0.0.1"
        self.config_path = root / "dovecot.conf"
        self.log_path = root / "dovecot.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start Dovecot (again) on the same port and mail dir; return once it greets."""
        if self._process is not None and self._process.poll() is None:
            return
        with (self.root / "stdout.log").open("ab") as out:
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_for_greeting()

    def stop(self) -> None:
        """Stop Dovecot and every process it started; a no-op when it is not running."""
        process, self._process = self._process, None
        if process is None:
            return
        # A throwaway server: kill the master and all its children at once (a graceful
        # shutdown costs about a second, and tests want the outage abrupt anyway).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=_STOP_TIMEOUT)
        self._wait_until_port_closed()

    def kick(self) -> None:
        """Close every IMAP connection of the test user (`* BYE`); the server stays up."""
        doveadm = shutil.which("doveadm") or shutil.which(
            "doveadm", path=f"{Path(self.binary).parent}:/usr/bin:/usr/sbin:/usr/local/bin"
        )
        if doveadm is None:
            raise RuntimeError("doveadm is missing (it comes with dovecot-core)")
        subprocess.run(
            [doveadm, "-c", str(self.config_path), "kick", self.username],
            check=True,
            capture_output=True,
            timeout=_STOP_TIMEOUT,
        )

    @property
    def running(self) -> bool:
        """True while the Dovecot master process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """Return the end of Dovecot's own log and of its stdout, for failure messages."""
        parts = []
        for path in (self.log_path, self.root / "stdout.log"):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)

    # -- mailbox helpers ------------------------------------------------------------------

    def client(self) -> IMAPClient:
        """Return an IMAPClient logged in as the test user (use it as a context manager)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.username, self.password)
        return client

    def append(self, folder: str, raw: bytes, flags: Iterable[str] = ()) -> int:
        """Append one message to `folder` and return the UID the server gave it."""
        return self.append_many(folder, [raw], flags)[0]

    def append_many(
        self, folder: str, messages: Iterable[bytes], flags: Iterable[str] = ()
    ) -> list[int]:
        """Append messages in order over one connection; return their UIDs."""
        flag_list = list(flags)
        uids = []
        with self.client() as client:
            for raw in messages:
                response = client.append(folder, raw, flags=flag_list)
                match = _APPENDUID.search(response)
                if match is None:
                    raise AssertionError(f"APPEND answered without APPENDUID: {response!r}")
                uids.append(int(match.group(2)))
        return uids

    def create_folder(self, folder: str) -> None:
        """Create a folder."""
        with self.client() as client:
            client.create_folder(folder)

    def delete_folder(self, folder: str) -> None:
        """Delete a folder and the mail in it."""
        with self.client() as client:
            client.delete_folder(folder)

    def uidvalidity(self, folder: str) -> int:
        """Return the folder's current UIDVALIDITY."""
        with self.client() as client:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def flags(self, folder: str) -> dict[int, tuple[bytes, ...]]:
        """Return {uid: flags} for every message in `folder`, without changing any flag."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            fetched = client.fetch(uids, ["FLAGS"]) if uids else {}
            return {uid: tuple(data[b"FLAGS"]) for uid, data in fetched.items()}

    # -- internals ------------------------------------------------------------------------

    def _write_config(self) -> None:
        mail = self.root / "mail"
        state = self.root / "state"
        for path in (mail, state):
            path.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            # imap and imap-login refuse to run as root: hand the mail to the dovecot user.
            entry = pwd.getpwnam("dovecot")
            os.chown(mail, entry.pw_uid, entry.pw_gid)
            users = (
                "default_internal_user = dovecot\n"
                "default_internal_group = dovecot\n"
                "default_login_user = dovenull\n"
            )
            mail_owner = "uid=dovecot gid=dovecot"
            chroot = ""
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            users = (
                f"default_internal_user = {me}\n"
                f"default_internal_group = {group}\n"
                f"default_login_user = {me}\n"
            )
            mail_owner = f"uid={os.geteuid()} gid={os.getegid()}"
            chroot = "  chroot =\n"
        capability = f"imap_capability = {self.imap_capability}\n" if self.imap_capability else ""
        self.config_path.write_text(
            f"""# Throwaway test server written by tests/servers/dovecot.py
base_dir = {self.root}/run
state_dir = {state}
log_path = {self.log_path}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
{users}first_valid_uid = 1
mail_location = maildir:{mail}/%u
passdb {{
  driver = static
  args = password={self.password}
}}
userdb {{
  driver = static
  args = {mail_owner} home={mail}/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
{chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
{capability}}}
"""
        )

    def _wait_until_port_closed(self) -> None:
        """Wait until no child still holds the listening socket (they die asynchronously)."""
        deadline = time.monotonic() + _STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
            except OSError:
                return
            time.sleep(0.02)
        raise RuntimeError(f"port {self.port} still accepts connections after dovecot was killed")

    def _wait_for_greeting(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited while starting\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as sock:
                    greeting = sock.recv(512)
                if greeting.startswith(b"* OK"):
                    return
                last_error = RuntimeError(f"unexpected greeting {greeting!r}")
            except OSError as exc:
                last_error = exc
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"dovecot did not greet on port {self.port} within {_START_TIMEOUT} s "
            f"({last_error})\n{self.log_tail()}"
        )
