"""ci.yml: on push and pull request, lint, tests, data checks, a smoke run and the metrics diff as one PR comment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._steps import _checkout, _fetch, _flowtide, _job, _permissions, _pinned, _setup
from .._yaml import Comment, Trailing

if TYPE_CHECKING:
    from flowtide.config import Config


def build(config: Config) -> dict:
    branch = config.ci.default_branch
    steps: list = [*_checkout(config, depth=0), *_setup(config)]
    if config.ci.lint:
        steps.append({"name": "Lint", "run": config.ci.lint})
    if config.ci.test:
        steps.append({"name": "Tests", "run": config.ci.test})
    steps.append({"name": "Workflows match flowtide.yaml", "run": "flowtide ci check"})
    steps += _fetch(config)
    if config.checks:  # `flowtide check` with none configured is a usage error: a new project's CI stays green
        steps.append(_flowtide(config, "Data checks", "flowtide check --md"))
    if config.ci.smoke:
        steps.append(_flowtide(config, "Smoke run of the pipeline", config.ci.smoke, store=True))
    steps.append(
        {
            "name": "Metrics diff vs the base branch",
            "id": "diff",
            "env": {"BASE_REF": "${{ github.base_ref }}"},
            "run": """set -euo pipefail
mkdir -p reports
if [ -n "$BASE_REF" ]; then base="origin/$BASE_REF"; else base="HEAD~1"; fi
if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
  echo "no base revision $base to compare with" | tee -a "$GITHUB_STEP_SUMMARY"
  exit 0
fi
# --md also appends the report to $GITHUB_STEP_SUMMARY; a regression is shown, not fatal here
flowtide diff --md "$base" > reports/diff.md || echo "flowtide diff exited $?"
delimiter="flowtide-$(openssl rand -hex 8)"
{ echo "markdown<<$delimiter"; head -c 60000 reports/diff.md; echo; echo "$delimiter"; } >> "$GITHUB_OUTPUT"
""",
        }
    )
    comment_script = """const marker = '<!-- flowtide:metrics-diff -->';
const body = `${marker}\\n${process.env.BODY}`.slice(0, 65000);
const { owner, repo } = context.repo;
const issue_number = context.issue.number;
const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number, per_page: 100 });
const previous = comments.find((c) => c.user && c.user.type === 'Bot' && c.body && c.body.includes(marker));
if (previous) {
  await github.rest.issues.updateComment({ owner, repo, comment_id: previous.id, body });
} else {
  await github.rest.issues.createComment({ owner, repo, issue_number, body });
}
"""
    return {
        "name": "ci",
        "on": {
            Comment("no paths filter: a required status check that never runs blocks merging"): None,
            "pull_request": None,
            "push": {"branches": [branch]},
            "workflow_dispatch": None,
        },
        "permissions": {},
        "concurrency": {
            "group": "flowtide-ci-${{ github.event.pull_request.number || github.ref }}",
            "cancel-in-progress": True,
        },
        "jobs": {
            "test": _job(
                config,
                "lint, tests, checks, smoke run",
                steps,
                permissions=_permissions(config),
                outputs={"diff": "${{ steps.diff.outputs.markdown }}"},
            ),
            "comment": _job(
                config,
                "metrics diff as one PR comment",
                [
                    {
                        "name": "Create or update the PR comment",
                        "uses": _pinned("github-script"),
                        "env": {"BODY": "${{ needs.test.outputs.diff }}"},
                        "with": {"script": comment_script},
                    }
                ],
                permissions={"pull-requests": Trailing("write", "create or update the one PR comment")},
                needs="test",
                extra={
                    Comment(
                        "same-repo PRs only: a fork's token cannot comment, and fork code never runs with secrets"
                    ): None,
                    "if": "github.event_name == 'pull_request' && github.event.pull_request.head.repo.full_name == github.repository && needs.test.outputs.diff != ''",
                },
            ),
        },
    }
