"""Hot reload: swap in a changed rules directory once it validates; keep the old one if not."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import structlog

from rules.engine import RuleSet, load_ruleset, pack_files
from rules.loader import RulesError

log = structlog.get_logger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(path: Path | None) -> Fingerprint:
    """Names, mtimes (ns) and sizes of the pack's YAML files: cheap to compute, stat only."""
    try:
        files = pack_files(path)
    except RulesError:
        return ()
    out = []
    for file in files:
        try:
            st = file.stat()
        except OSError:
            continue
        out.append((str(file), st.st_mtime_ns, st.st_size))
    if path is not None and path.is_dir():  # an activated model reloads like a rules change
        from rules.model.store import active_path

        try:
            st = active_path(path).stat()
            out.append((str(active_path(path)), st.st_mtime_ns, st.st_size))
        except OSError:
            pass
    return tuple(out)


class RulesWatcher:
    """Holds the current RuleSet of a directory and reloads it when its files change."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        check: Callable[[RuleSet], None] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.check = check  # raises RulesError for a pack this runtime cannot run
        self._lock = threading.Lock()
        self._ruleset: RuleSet | None = None
        self._loaded_print: Fingerprint | None = None
        self._failed_print: Fingerprint | None = None
        self.last_error: RulesError | None = None

    def current(self) -> RuleSet:
        """The rules to use now; the first call raises RulesError if the rules are invalid."""
        current_print = fingerprint(self.path)
        with self._lock:
            if self._ruleset is not None and current_print in (
                self._loaded_print,
                self._failed_print,
            ):
                return self._ruleset
            try:
                ruleset = load_ruleset(self.path)
                if self.check is not None:
                    self.check(ruleset)
            except RulesError as exc:
                if self._ruleset is None:
                    raise
                self._failed_print = current_print
                self.last_error = exc
                log.error(
                    "rules_reload_failed",
                    path=str(self.path) if self.path else "default",
                    errors=len(exc.issues),
                    error=str(exc),
                )
                return self._ruleset
            first = self._ruleset is None
            self._ruleset = ruleset
            self._loaded_print = current_print
            self._failed_print = None
            self.last_error = None
            if not first:
                log.info(
                    "rules_reloaded",
                    path=str(self.path) if self.path else "default",
                    **ruleset.counts,
                )
            return ruleset
