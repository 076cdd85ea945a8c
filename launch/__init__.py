"""Launching personax runs: one process per host, on this machine (`local`), on several GPU hosts
(`gpu`), on a TPU VM pod slice (`tpu_vm`) or on GKE (`gke`); retries with backoff that resume
from the last checkpoint; sweeps over a small grid. `python -m launch --config configs/launch/X.py`.
"""
