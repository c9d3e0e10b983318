"""Experiments: sweeps, reports, benchmarks; the ``hierlearn`` command (``hierlearn --help``)."""
