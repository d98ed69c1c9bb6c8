"""Throwaway real servers (Dovecot, …) that tests start in a temp dir and always tear down."""

from __future__ import annotations
