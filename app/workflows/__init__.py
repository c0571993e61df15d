"""Workflows of your own: declared under `workflows:` in `.github/hookwise.yml`, run as
executions of seed 001's workflow model by the same runner as hookwise's own reactions.

- spec.py         pure: the file's `workflows:` parsed and validated, each problem with its line
- conditions.py   pure: `on:` and `if:` against an event
"""
