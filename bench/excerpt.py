"""Excerpt quality: how much of each failure the cutter keeps, and at what size.

    python bench/excerpt.py [--budgets 500,1000,2000,4000]

For every log in tests/data/logs (real tool failures wrapped as GitHub Actions job logs, made by
tests/data/make_corpus.py) and every budget, one row: the log's lines and estimated tokens, the
excerpt's kept lines and tokens, and the share of the log's failing lines (its `.expected` file,
the ground truth) that appear in the excerpt as whole lines. Then the mean share per budget,
each log weighing the same whatever its number of failing lines.

Tokens are `estimate_tokens` (ceil(characters / 4)), the same estimate the cutter budgets with.
Reported, never judged: the pass/fail line lives in tests/test_excerpt.py.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, sys.path starts at bench/; `app` is in the repository root.
sys.path.insert(0, str(ROOT))

from app.analysis.excerpt import cut, estimate_tokens  # noqa: E402

LOGS = ROOT / "tests" / "data" / "logs"


@dataclass(frozen=True)
class Row:
    log: str
    lines: int
    log_tokens: int
    budget: int
    kept: int
    tokens: int
    share: float


def measure(path: Path, budget: int) -> Row:
    log = path.read_text(encoding="utf-8")
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    result = cut(log, budget_tokens=budget)
    kept = set(result.text.split("\n"))
    found = sum(line in kept for line in expected)
    return Row(
        log=path.stem,
        lines=result.total,
        log_tokens=estimate_tokens(log),
        budget=budget,
        kept=result.kept,
        tokens=result.tokens,
        share=found / len(expected) if expected else 1.0,
    )


def table(rows: list[Row]) -> str:
    header = (
        f"{'log':<22} {'budget':>6} {'lines':>6} {'log tok':>8} "
        f"{'kept':>5} {'tokens':>6} {'failing kept':>12}"
    )
    out = [header, "-" * len(header)]
    for row in rows:
        out.append(
            f"{row.log:<22} {row.budget:>6} {row.lines:>6} {row.log_tokens:>8} "
            f"{row.kept:>5} {row.tokens:>6} {row.share:>12.1%}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budgets", default="500,1000,2000,4000")
    args = parser.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    logs = sorted(LOGS.glob("*.log"))
    if not logs:
        print(f"no logs in {LOGS}: run tests/data/make_corpus.py", file=sys.stderr)
        return 2
    print(f"{len(logs)} logs in {LOGS.relative_to(ROOT)}")
    means: list[tuple[int, float, float]] = []
    for budget in budgets:
        rows = [measure(path, budget) for path in logs]
        print()
        print(table(rows))
        mean_share = sum(r.share for r in rows) / len(rows)
        mean_tokens = sum(r.tokens for r in rows) / len(rows)
        print(f"{'mean':<22} {budget:>6} {'':>21} {mean_tokens:>6.0f} {mean_share:>12.1%}")
        means.append((budget, mean_share, mean_tokens))
    print()
    print("mean share of failing lines kept, per budget:")
    for budget, share, tokens in means:
        print(f"  {budget:>5} tokens: {share:6.1%}  (mean excerpt {tokens:.0f} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
