"""Benchmarks: measured speed of every stage and measured detection quality."""
