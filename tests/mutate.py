"""``make mutate``: named mutants of the lifecycle code, each one a defect the tests must find.

Each mutant is a textual patch (a snippet that must occur exactly once, and its replacement) applied
to a temporary copy of the tree, never to the working tree. For each mutant the lifecycle share of
``make test`` runs in that copy, stopping at the first failure: the property test at its make-test
profile (tests/property: its directed scenarios first), then the Lambda unit tests (tests/unit/lambdas).
A mutant is killed when they fail, survives when they pass; a patch that no longer applies is
reported as stale (and fails the run, so the list follows the code). Prints one JSON object (the
table) and exits non-zero unless every mutant is killed.

    python tests/mutate.py [--only NAME ...] [--list]
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Cheapest first, each stopping at its first failure: the directed scenarios, the random runs at the
# make-test profile, then the Lambda unit tests.
SUITES = (
    ("scenarios", ["tests/property", "-k", "scenario"]),
    ("property", ["tests/property", "-k", "not scenario"]),
    ("unit", ["tests/unit/lambdas"]),
)


@dataclass(frozen=True)
class Mutant:
    name: str
    defect: str
    # (path, snippet that occurs exactly once, replacement), applied in order.
    patches: tuple[tuple[str, str, str], ...]


CHECKER = "lambdas/idle_checker/checker.py"
STATE = "lambdas/seqserve_common/state.py"
MUTANTS: tuple[Mutant, ...] = (
    # -- the earlier lifecycle mutations ----------------------------------------------------------
    Mutant(
        name="state-condition",
        defect="a transition no longer checks the state_changed_at it read (lost updates between racers)",
        patches=(
            (STATE, '            self.clauses.append("state_changed_at = :changed")', "            pass"),
        ),
    ),
    Mutant(
        name="idle-cutoff",
        defect="the idle cutoff adds the write-coalescing slack instead of subtracting it",
        patches=(
            (
                "lambdas/seqserve_common/lifecycle.py",
                "    return now - idle_minutes * 60 - coalescing_seconds(idle_minutes)",
                "    return now - idle_minutes * 60 + coalescing_seconds(idle_minutes)",
            ),
        ),
    ),
    Mutant(
        name="grace",
        defect="the reconciler creates a waking model's endpoint again without waiting out the grace",
        patches=((CHECKER, "WAKE_GRACE_SECONDS = 60.0", "WAKE_GRACE_SECONDS = 0.0"),),
    ),
    Mutant(
        name="retry",
        defect="a waking model whose CreateEndpoint was lost is never created again",
        patches=((CHECKER, "        return self._create_again(spec, item)", "        return item.state"),),
    ),
    Mutant(
        name="notify",
        defect="the failure path publishes no notice",
        patches=(
            (
                CHECKER,
                "        self._send_notice(spec, failed)\n        self._delete(spec, failed)",
                "        self._delete(spec, failed)",
            ),
        ),
    ),
    # -- issue 18's defects, reintroduced into the fixed code -------------------------------------
    Mutant(
        name="1-ownership",
        defect="the reconciler adopts (and deletes) every endpoint with its prefix, whoever's it is",
        patches=(
            (
                CHECKER,
                "        if not self._settings.owns(tags):\n"
                "            self._report_unowned(name, owner_of(tags), key=key, dimension=APP_DIMENSION)",
                "        if False:\n"
                "            self._report_unowned(name, owner_of(tags), key=key, dimension=APP_DIMENSION)",
            ),
        ),
    ),
    Mutant(
        name="2-claim-not-atomic",
        defect="the move to sleeping and the delete claim no longer re-check leases and job holds",
        patches=(
            (
                STATE,
                "        if at is not None:\n            # Typed as the reader",
                "        if False:\n            # Typed as the reader",
            ),
        ),
    ),
    Mutant(
        name="3-stranded-job-hold",
        defect="a job hold never expires: a job whose end is never written holds its model up for good",
        patches=(
            (
                "lambdas/seqserve_common/jobs.py",
                "(deadline := hold_deadline(h)) is not None and now < deadline",
                "(deadline := hold_deadline(h)) is not None",
            ),
        ),
    ),
    Mutant(
        name="4-corrupt-items-stick",
        defect="an item that does not parse (unknown state, wrong type) is never repaired",
        patches=((CHECKER, "    return bool(item.problems) or (", "    return False and ("),),
    ),
    Mutant(
        name="4-precise-timestamp",
        defect="conditions compare a re-rendered state_changed_at: one stored with >3 decimals never matches",
        patches=(
            (
                STATE,
                'self.values[":changed"] = seen.raw.get("state_changed_at") or _epoch(seen.state_changed_at)',
                'self.values[":changed"] = _epoch(seen.state_changed_at)',
            ),
        ),
    ),
    Mutant(
        name="5-rollback-is-bad",
        defect="RollingBack and UpdateRollbackFailed (serving) are taken for broken endpoints",
        patches=(
            (
                "lambdas/seqserve_common/endpoints.py",
                'BAD_STATUSES = frozenset({"Failed", "OutOfService"})',
                'BAD_STATUSES = frozenset({"Failed", "OutOfService", "RollingBack", "UpdateRollbackFailed"})',
            ),
        ),
    ),
    Mutant(
        name="5-updating-fails-wake",
        defect="a waking model whose endpoint is Updating (serving) fails at the wake deadline",
        patches=(
            (
                CHECKER,
                "        if endpoint.status in SERVING_STATUSES:\n"
                "            # InService, or serving while SageMaker updates it: "
                "the wake is done either way.",
                '        if endpoint.status == "InService":',
            ),
        ),
    ),
    Mutant(
        name="6-notice-twice",
        defect="every run that finds the failure sends the notice (no claim)",
        patches=((CHECKER, "        if not self._store.claim_notice(item):\n            return\n", ""),),
    ),
    Mutant(
        name="6-notice-lost",
        defect="a notice whose publish failed is not put back, so it is never sent",
        patches=(
            (
                CHECKER,
                "            self._store.release_notice(item)",
                "            pass",
            ),
        ),
    ),
    Mutant(
        name="7-waking-without-timestamps",
        defect="a waking item without state_changed_at is not repaired (its deadline never comes)",
        patches=(
            (
                CHECKER,
                "    return bool(item.problems) or "
                "(item.stored_state in TIMED_STATES and item.state_changed_at is None)",
                "    return bool(item.problems)",
            ),
        ),
    ),
    Mutant(
        name="7-wake-not-use",
        defect="POST /wake does not count as a use: an idle awake model is deleted right after a wake",
        patches=(
            (
                "lambdas/invoker/app.py",
                "        recorder.record(spec)\n"
                "        item = waker.wake(spec, endpoint_down=False, retry_failed=True)",
                "        item = waker.wake(spec, endpoint_down=False, retry_failed=True)",
            ),
        ),
    ),
    Mutant(
        name="8-request-write",
        defect="every prediction writes its request count to DynamoDB",
        patches=(
            (
                "lambdas/seqserve_common/history.py",
                '        if at >= self._next_flush.get(model, float("-inf")) '
                "and self.flush_requests(model, at=at):",
                "        if self.flush_requests(model, at=at):",
            ),
        ),
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
    for relative, old, new in mutant.patches:
        path = tree / relative
        if not path.is_file():
            return f"{relative} does not exist"
        text = path.read_text()
        found = text.count(old)
        if found != 1:
            return f"the snippet occurs {found} times in {relative}: {old.splitlines()[0].strip()!r}"
        path.write_text(text.replace(old, new))
    return None


def run_suites(tree: Path) -> tuple[str, str, float]:
    """("killed", by which suite) or ("survived", "")."""
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("SEQSERVE_HYPOTHESIS_PROFILE", None)
    for suite, paths in SUITES:
        answer = subprocess.run(
            [str(tree / ".venv" / "bin" / "python"), "-m", "pytest", "-p", "no:xdist",
             "-p", "no:cacheprovider", "-q", "-x", *paths],
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


def run_mutant(mutant: Mutant) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"seqserve-mutant-{mutant.name}-") as scratch:
        tree = tree_copy(Path(scratch))
        problem = apply(mutant, tree)
        if problem is not None:
            row: dict[str, object] = {"mutant": mutant.name, "result": "stale", "by": problem, "seconds": 0.0}
        else:
            result, by, seconds = run_suites(tree)
            row = {"mutant": mutant.name, "result": result, "by": by, "seconds": round(seconds, 1)}
    row["defect"] = mutant.defect
    print(f"{row['mutant']}: {row['result']} {row['by']}", file=sys.stderr, flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="mutant names to run")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (each in its own copy)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if args.only is None or m.name in args.only]
    if args.list:
        for mutant in chosen:
            print(f"{mutant.name}: {mutant.defect} ({', '.join(p for p, _, _ in mutant.patches)})")
        return 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        table = list(pool.map(run_mutant, chosen))
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
