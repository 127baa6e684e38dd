"""Backends that run across processes and machines (Ray)."""
