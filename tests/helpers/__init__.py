"""Helpers shared by the spine's tests."""
