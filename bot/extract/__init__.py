"""Extractors: structured changes read from a customer's mail (administrative updates)."""
