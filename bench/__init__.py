"""Experiments run from a checkout: ``python -m bench --help``."""
