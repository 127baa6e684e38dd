"""The plastix version, recorded in every run's ``config.json``."""

__version__ = "0.6.0"
