"""Held-out evaluation of every task beside its baselines."""
