"""Plasticity: diagnostics of how much a network can still learn (and, later, its cures)."""
