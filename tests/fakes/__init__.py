"""Stateful fakes of vendor APIs that cannot run here, served over real HTTP on loopback."""

from __future__ import annotations
