"""``make mutate``: named mutants of the lifecycle code, each one a defect the tests must find.

Each mutant is a textual patch (a snippet that must occur exactly once, and its replacement) applied
to a temporary copy of the tree, never to the working tree. For each mutant the lifecycle share of
``make test`` runs in that copy, stopping at the first failure: the property test at its make-test
profile (tests/property), then the Lambda unit tests (tests/unit/lambdas). A mutant is killed when
they fail, survives when they pass; a patch that no longer applies is reported as stale (and fails
the run, so the list follows the code). Prints one JSON object (the table) and exits non-zero unless
every mutant is killed.

    python -m tests.mutate [--only NAME ...] [--list]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = (
    ("property", ["tests/property"]),
    ("unit", ["tests/unit/lambdas"]),
)


@dataclass(frozen=True)
class Mutant:
    name: str
    defect: str
    path: str
    old: str
    new: str


MUTANTS: tuple[Mutant, ...] = (
    # -- the earlier lifecycle mutations ----------------------------------------------------------
    Mutant(
        name="state-condition",
        defect="a transition no longer checks the state_changed_at it read (lost updates between racers)",
        path="lambdas/seqserve_common/state.py",
        old='            self.clauses.append("state_changed_at = :changed")',
        new="            pass",
    ),
    Mutant(
        name="idle-cutoff",
        defect="the idle cutoff subtracts the write-coalescing slack the wrong way",
        path="lambdas/seqserve_common/lifecycle.py",
        old="    return now - idle_minutes * 60 - coalescing_seconds(idle_minutes)",
        new="    return now - idle_minutes * 60 + coalescing_seconds(idle_minutes)",
    ),
    Mutant(
        name="grace",
        defect="the reconciler creates a waking model's endpoint again without waiting out the grace",
        path="lambdas/idle_checker/checker.py",
        old="WAKE_GRACE_SECONDS = 60.0",
        new="WAKE_GRACE_SECONDS = 0.0",
    ),
    Mutant(
        name="retry",
        defect="a waking model whose CreateEndpoint was lost is never created again",
        path="lambdas/idle_checker/checker.py",
        old="        return self._create_again(spec, item)",
        new="        return item.state",
    ),
    Mutant(
        name="notify",
        defect="the failure path publishes no notice",
        path="lambdas/idle_checker/checker.py",
        old="        self._notify_failure(spec, reason)\n",
        new="",
    ),
)


def tree_copy(into: Path) -> Path:
    """The tree as git sees it (tracked and untracked, not ignored), with the shared .venv linked."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        relative = raw.decode()
        source = ROOT / relative
        if not source.is_file() or source.is_symlink():
            continue
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (into / ".venv").symlink_to((ROOT / ".venv").resolve())
    return into


def apply(mutant: Mutant, tree: Path) -> str | None:
    """Patch the copy; the reason it cannot, or None."""
    path = tree / mutant.path
    if not path.is_file():
        return f"{mutant.path} does not exist"
    text = path.read_text()
    found = text.count(mutant.old)
    if found != 1:
        return f"the snippet occurs {found} times in {mutant.path}"
    path.write_text(text.replace(mutant.old, mutant.new))
    return None


def run_suites(tree: Path) -> tuple[str, str, float]:
    """("killed", by which suite) or ("survived", "")."""
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("SEQSERVE_HYPOTHESIS_PROFILE", None)
    for suite, paths in SUITES:
        answer = subprocess.run(
            [str(tree / ".venv" / "bin" / "python"), "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
             "-q", "-x", *paths],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )  # fmt: skip
        if answer.returncode != 0:
            failed = [line for line in answer.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
            return (
                "killed",
                f"{suite}: {failed[0] if failed else answer.stdout.strip().splitlines()[-1]}",
                (time.monotonic() - started),
            )
    return "survived", "", time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="mutant names to run")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if args.only is None or m.name in args.only]
    if args.list:
        for mutant in chosen:
            print(f"{mutant.name}: {mutant.defect} ({mutant.path})")
        return 0
    table = []
    for mutant in chosen:
        with tempfile.TemporaryDirectory(prefix=f"seqserve-mutant-{mutant.name}-") as scratch:
            tree = tree_copy(Path(scratch))
            problem = apply(mutant, tree)
            if problem is not None:
                row = {"mutant": mutant.name, "result": "stale", "by": problem, "seconds": 0.0}
            else:
                result, by, seconds = run_suites(tree)
                row = {"mutant": mutant.name, "result": result, "by": by, "seconds": round(seconds, 1)}
        row["defect"] = mutant.defect
        print(f"{row['mutant']}: {row['result']} {row['by']}", file=sys.stderr, flush=True)
        table.append(row)
    summary = {
        "mutants": table,
        "killed": sum(r["result"] == "killed" for r in table),
        "survived": [r["mutant"] for r in table if r["result"] == "survived"],
        "stale": [r["mutant"] for r in table if r["result"] == "stale"],
    }
    print(json.dumps(summary, indent=2))
    return 0 if not summary["survived"] and not summary["stale"] else 1


if __name__ == "__main__":
    sys.exit(main())
