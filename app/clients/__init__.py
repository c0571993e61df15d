"""Outbound: GitHub, Anthropic and Linear, thin and typed, each behind its own module."""
