#!/usr/bin/env bash
# After gate.sh passed: commit the accepted run in the runs worktree and push the runs branch,
# only when the file changed (robustest replaced it, or this is the first accepted run) and
# only for a push to $ACCEPT_REF. docs/tutorial/gate-in-ci.md explains the recipe.
#
#   RUNS_BRANCH, RUNS_DIR, ACCEPTED   as for gate.sh
#   ACCEPT_REF   the only ref whose runs are accepted   default: refs/heads/main
#   GITHUB_REF, GITHUB_SHA            the pushed ref and commit (set by GitHub Actions)
set -euo pipefail

RUNS_BRANCH=${RUNS_BRANCH:-robustness-runs}
RUNS_DIR=${RUNS_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/robustness-runs}
ACCEPTED=${ACCEPTED:-accepted.json}
ACCEPT_REF=${ACCEPT_REF:-refs/heads/main}

if [ "${GITHUB_REF:-}" != "$ACCEPT_REF" ]; then
    echo "accept.sh: ${GITHUB_REF:-(no GITHUB_REF)} is not $ACCEPT_REF: nothing accepted"
    exit 0
fi
if [ ! -d "$RUNS_DIR" ]; then
    echo "accept.sh: no runs worktree at $RUNS_DIR; run gate.sh first" >&2
    exit 2
fi
if [ -z "$(git -C "$RUNS_DIR" status --porcelain -- "$ACCEPTED")" ]; then
    echo "accept.sh: $RUNS_BRANCH:$ACCEPTED unchanged (robustest kept the baseline): nothing to accept"
    exit 0
fi

sha=${GITHUB_SHA:-$(git rev-parse HEAD)}
export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-robustest CI} GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-robustest-ci@localhost}
export GIT_COMMITTER_NAME=${GIT_COMMITTER_NAME:-$GIT_AUTHOR_NAME} GIT_COMMITTER_EMAIL=${GIT_COMMITTER_EMAIL:-$GIT_AUTHOR_EMAIL}
git -C "$RUNS_DIR" add -- "$ACCEPTED"
git -C "$RUNS_DIR" commit --quiet -m "accept ${sha:0:12}: ${CHECKPOINT:-the checkpoint}"
if ! git -C "$RUNS_DIR" push --quiet origin "HEAD:refs/heads/$RUNS_BRANCH"; then
    echo "accept.sh: origin's $RUNS_BRANCH moved while this run was gated; re-run the job to gate against the new accepted run" >&2
    exit 1
fi
echo "accept.sh: $RUNS_BRANCH:$ACCEPTED is now the run of ${sha:0:12} ($(git -C "$RUNS_DIR" log -1 --format=%h))"
