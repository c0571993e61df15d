"""Benchmarks, run as scripts (`python bench/ingest.py`); never imported by hookwise itself."""
