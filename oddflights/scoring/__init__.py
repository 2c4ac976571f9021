"""Scoring: a day's flights against a trained model, ranks, thresholds and tags."""
