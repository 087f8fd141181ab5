#!/usr/bin/env bash
# Gate one retriever checkpoint against the last accepted robustest run, kept as $ACCEPTED on
# the branch $RUNS_BRANCH of origin. Run from the root of the repository's checkout; the
# runs branch is checked out as a git worktree in $RUNS_DIR, outside the checkout, so no file
# of the checkout is touched. docs/tutorial/gate-in-ci.md explains the recipe.
#
#   CHECKPOINT   the retriever under test: a model folder (any --retriever value)   required
#   DATASET      the test collection: a BEIR folder (any --robustest-dataset value) required
#   RUNS_BRANCH  the branch holding the accepted run        default: robustness-runs
#   RUNS_DIR     where that branch is checked out           default: $RUNNER_TEMP/robustness-runs
#   ACCEPTED     the accepted run's file on that branch     default: accepted.json
#   OUT_DIR      run.json, robustness.html, robustness.xml, pytest.log   default: robustness
#   EXTRA_ARGS   more pytest arguments, split like a shell line (pytest reads them from
#                PYTEST_ADDOPTS), e.g. -m "not poisoning" --robustest-seeds=1999,5
#
# With an accepted run, the checkpoint is gated against it with --robustest-ci, and robustest
# replaces $RUNS_DIR/$ACCEPTED with this run only when it may move the baseline forward
# (otherwise it prints "baseline ... kept: <reason>"). Without one (the first push), the run
# is saved and, when it passes, becomes the first accepted run: the anchor. accept.sh commits
# the file when it changed. Exit status: pytest's.
set -euo pipefail

: "${CHECKPOINT:?set CHECKPOINT to the checkpoint to gate (a model folder)}"
: "${DATASET:?set DATASET to the test collection (a BEIR folder)}"
RUNS_BRANCH=${RUNS_BRANCH:-robustness-runs}
RUNS_DIR=${RUNS_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/robustness-runs}
ACCEPTED=${ACCEPTED:-accepted.json}
OUT_DIR=${OUT_DIR:-robustness}

git worktree prune
if [ -e "$RUNS_DIR" ]; then
    echo "gate.sh: $RUNS_DIR already exists; remove it (git worktree remove --force $RUNS_DIR) or set RUNS_DIR" >&2
    exit 2
fi
mkdir -p "$OUT_DIR"

# The runs branch in its own worktree: an existing branch as it is on origin, or a new orphan
# branch (no history shared with the code) on the first push.
if git ls-remote --exit-code --heads origin "refs/heads/$RUNS_BRANCH" >/dev/null; then
    git fetch --quiet origin "+refs/heads/$RUNS_BRANCH:refs/remotes/origin/$RUNS_BRANCH"
    git worktree add --quiet -B "$RUNS_BRANCH" "$RUNS_DIR" "refs/remotes/origin/$RUNS_BRANCH"
else
    status=$?
    if [ "$status" -ne 2 ]; then  # 2: origin answered, and has no such branch
        echo "gate.sh: cannot list origin's branches (git ls-remote exit $status)" >&2
        exit "$status"
    fi
    git worktree add --quiet --no-checkout --detach "$RUNS_DIR"
    git -C "$RUNS_DIR" switch --quiet --orphan "$RUNS_BRANCH"
fi

args=(
    --pyargs robustest.suites
    "--retriever=$CHECKPOINT"
    "--robustest-dataset=$DATASET"
    "--robustest-save=$OUT_DIR/run.json"
    "--robustest-html=$OUT_DIR/robustness.html"
    "--junitxml=$OUT_DIR/robustness.xml"
)
if [ -f "$RUNS_DIR/$ACCEPTED" ]; then
    bootstrap=false
    echo "gate.sh: gating $CHECKPOINT against $RUNS_BRANCH:$ACCEPTED ($(git -C "$RUNS_DIR" log -1 --format='%h %s'))"
    args+=(--robustest-ci "--robustest-baseline=$RUNS_DIR/$ACCEPTED" --robustest-update-baseline)
else
    bootstrap=true
    echo "gate.sh: no $ACCEPTED on $RUNS_BRANCH yet: if it passes, this run of $CHECKPOINT becomes the first accepted run (the anchor)"
fi

export PYTEST_ADDOPTS="${EXTRA_ARGS:-} ${PYTEST_ADDOPTS:-}"
set +e
pytest "${args[@]}" 2>&1 | tee "$OUT_DIR/pytest.log"
status=${PIPESTATUS[0]}
set -e

if [ "$bootstrap" = true ] && [ "$status" -eq 0 ]; then
    cp "$OUT_DIR/run.json" "$RUNS_DIR/$ACCEPTED"
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    {
        echo "robustness gate of \`$CHECKPOINT\`: pytest exit status $status"
        grep -E '^(verdict: |baseline .* (kept|replaced))' "$OUT_DIR/pytest.log" || true
    } >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
