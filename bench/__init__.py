"""Benchmarks that print figures (not run by pytest)."""
