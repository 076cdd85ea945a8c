"""Evaluation (SPEC §2.4): judges and, built on them, the harness, baselines and report."""
