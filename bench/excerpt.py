"""Excerpt quality: how much of each failure the cutter keeps, per ecosystem and budget.

    python bench/excerpt.py [--budgets 250,500,1000,2000,4000,8000] [--logs]

Two corpora of real tool failures with their ground truth (`<name>.expected`: the lines a reader
would point at):

- tests/data/ci/<ecosystem>/ (tests/data/make_ci_corpus.py): Maven, Gradle, Go, Rust, JS/TS,
  Python, Ruby, C/C++ and shell, wrapped as GitHub Actions job logs or as a third-party check
  run's output and annotations; each with `<name>.base.log.gz`, the same job's last green log
  on the base branch.
- tests/data/logs/ (tests/data/make_corpus.py): the first, Python/C/node corpus.

For every log and budget: the share of its expected lines that appear in the excerpt as whole
lines (recall), each log weighing the same whatever its number of expected lines. The new corpus
is measured twice: the failing log cut as it is (`plain`), and cut after
`app.analysis.basediff.new_since_base` dropped what it shares with its base log (`diff`). Also:
the mean share of the budget the excerpt fills, and the largest excerpt over its budget (never
above 100 %).

Tokens are `estimate_tokens` (ceil(characters / 4)), the same estimate the cutter budgets with.
Reported, never judged: the floors live in tests/unit/test_excerpt_ci.py.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, sys.path starts at bench/; `app` is in the repository root.
sys.path.insert(0, str(ROOT))

from app.analysis.basediff import new_since_base  # noqa: E402
from app.analysis.excerpt import cut, estimate_tokens  # noqa: E402

CI = ROOT / "tests" / "data" / "ci"
LOGS = ROOT / "tests" / "data" / "logs"


@dataclass(frozen=True)
class Row:
    ecosystem: str
    log: str
    mode: str
    budget: int
    log_tokens: int
    tokens: int
    recall: float


def expected_of(path: Path) -> list[str]:
    return path.with_name(path.name.replace(".log", ".expected")).read_text().splitlines()


def measure(ecosystem: str, path: Path, budget: int, mode: str) -> Row:
    log = path.read_text(encoding="utf-8")
    if mode == "diff":
        base_path = path.with_name(path.name.replace(".log", ".base.log.gz"))
        base = gzip.decompress(base_path.read_bytes()).decode("utf-8")
        log = new_since_base(log, base)
    result = cut(log, budget_tokens=budget)
    kept = set(result.text.split("\n"))
    expected = expected_of(path)
    found = sum(line in kept for line in expected)
    return Row(
        ecosystem=ecosystem,
        log=path.name.removesuffix(".log"),
        mode=mode,
        budget=budget,
        log_tokens=estimate_tokens(path.read_text(encoding="utf-8")),
        tokens=result.tokens,
        recall=found / len(expected) if expected else 1.0,
    )


def corpus() -> list[tuple[str, Path]]:
    return [
        (path.parent.name, path)
        for path in sorted(CI.glob("*/*.log"))
        # A case the generator is still writing has no base log yet.
        if path.with_name(path.name.replace(".log", ".base.log.gz")).exists()
    ]


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summary(rows: list[Row], budgets: list[int], modes: list[str]) -> str:
    ecosystems = sorted({row.ecosystem for row in rows})
    groups: dict[tuple[str, str, int], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.ecosystem, row.mode, row.budget)].append(row)
        groups[("ALL (mean)", row.mode, row.budget)].append(row)
    columns = [f"{mode} {budget}" for budget in budgets for mode in modes]
    header = f"{'ecosystem':<12} {'logs':>4}  " + " ".join(f"{c:>10}" for c in columns)
    out = [header, "-" * len(header)]
    for eco in [*ecosystems, "ALL (mean)"]:
        count = len(groups[(eco, modes[0], budgets[0])])
        cells = [
            f"{mean([r.recall for r in groups[(eco, mode, budget)]]):>10.1%}"
            for budget in budgets
            for mode in modes
        ]
        out.append(f"{eco:<12} {count:>4}  " + " ".join(cells))
    worst = [
        f"{min(mean([r.recall for r in groups[(eco, mode, b)]]) for eco in ecosystems):>10.1%}"
        for b in budgets
        for mode in modes
    ]
    out.append(f"{'worst eco':<12} {'':>4}  " + " ".join(worst))
    fill = [
        f"{mean([r.tokens / b for r in rows if r.budget == b and r.mode == mode]):>10.1%}"
        for b in budgets
        for mode in modes
    ]
    out.append(f"{'budget used':<12} {'':>4}  " + " ".join(fill))
    over = [
        f"{max(r.tokens / b for r in rows if r.budget == b and r.mode == mode):>10.1%}"
        for b in budgets
        for mode in modes
    ]
    out.append(f"{'max/budget':<12} {'':>4}  " + " ".join(over))
    return "\n".join(out)


def per_log(rows: list[Row]) -> str:
    header = f"{'log':<32} {'mode':<5} {'budget':>6} {'log tok':>8} {'tokens':>6} {'recall':>7}"
    out = [header, "-" * len(header)]
    for row in sorted(rows, key=lambda r: (r.ecosystem, r.log, r.mode, r.budget)):
        out.append(
            f"{row.log:<32} {row.mode:<5} {row.budget:>6} {row.log_tokens:>8} "
            f"{row.tokens:>6} {row.recall:>7.1%}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budgets", default="250,500,1000,2000,4000,8000")
    parser.add_argument("--logs", action="store_true", help="also print one row per log")
    args = parser.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    logs = corpus()
    if not logs:
        print(f"no logs in {CI}: run tests/data/make_ci_corpus.py", file=sys.stderr)
        return 2
    modes = ["plain", "diff"]
    rows = [
        measure(eco, path, budget, mode)
        for eco, path in logs
        for budget in budgets
        for mode in modes
    ]
    size = sum(path.stat().st_size for _, path in logs)
    print(f"{len(logs)} logs in {CI.relative_to(ROOT)} ({size / 1e6:.1f} MB, base logs aside)")
    print("mean recall of expected lines, per ecosystem; plain = the log as it is, ")
    print("diff = after new_since_base(log, base log)")
    print()
    print(summary(rows, budgets, modes))
    old = [
        measure("tests/data/logs", path, budget, "plain")
        for path in sorted(LOGS.glob("*.log"))
        for budget in budgets
    ]
    if old:
        print()
        print(f"{len({r.log for r in old})} logs in {LOGS.relative_to(ROOT)} (no base logs):")
        print(summary(old, budgets, ["plain"]))
    if args.logs:
        print()
        print(per_log(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
