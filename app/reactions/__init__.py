"""Reactions: what hookwise does about an event once its state is recorded.

Each is a built-in workflow (seed 001) run as a `workflow_executions` row, outside any
transaction (app/reactions/runner.py). Which executions an event starts is the workflow
engine's (app/workflows/builtins.py defines hookwise's own in the language of hookwise.yml):

- policy.py     pure rules: who is reviewed, what makes an execution pointless
- builtin.py    the workflows by name: how to run one, how to show its failure
- review.py     hookwise.review: a review of a head commit
- fix.py        hookwise.analyse_failure, hookwise.check_run_action: analysis and fix
- linear.py     hookwise.linear_sync: Linear told about links, merges and closes
- context.py    what a reaction gets; answers.py: the model asked once per execution
"""
