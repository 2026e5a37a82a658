"""Evaluation of whole systems against the procedural world's exact ground truth."""
