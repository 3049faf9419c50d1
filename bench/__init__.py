"""Benchmarks of orderclock against bare Temporal baselines: ``python -m bench``."""
