"""Failure analysis: turn a failing check's evidence into something a model can read."""
