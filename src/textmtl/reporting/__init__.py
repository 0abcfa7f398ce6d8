"""Summaries of runs: per-task mean ± std over seeds, next to published numbers."""
