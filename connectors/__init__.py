"""Connectors: one sub-package per external system, plus what they share."""

from __future__ import annotations
