"""The shell of the GitLab jobs: install, bot commits, the hand-offs between jobs (dotenv reports).

Jobs hand values on through `artifacts: reports: dotenv` files (``reports/*.env``): a later
job that `needs:` the writer gets them as variables. Secrets are only ever `$VAR`
references: the push token reaches git through a credential helper that reads it from
the environment, never through a URL or an argument.
"""

from __future__ import annotations

import shlex

BOT_NAME = "flowtide[bot]"
BOT_EMAIL = "flowtide-bot@noreply.$CI_SERVER_HOST"
SKIP_CI = "[skip ci]"
PUSH_TOKEN = "FLOWTIDE_PUSH_TOKEN"
API_TOKEN = "FLOWTIDE_API_TOKEN"

# git with the push token as the password of an HTTPS remote (a GitLab project access token takes any user name)
_GIT_AS_BOT = (
    'bot_git() { git -c credential.helper= -c credential.helper=\'!f() { test "$1" = get && '
    'echo username=flowtide-bot && echo "password=$FLOWTIDE_PUSH_TOKEN"; }; f\' "$@"; }'
)

_NEED_TOKEN = """case "$FLOWTIDE_REMOTE" in
  http*) if [ -z "${FLOWTIDE_PUSH_TOKEN:-}" ]; then
    echo "no FLOWTIDE_PUSH_TOKEN: add a project access token (scope write_repository) as a masked CI/CD variable" >&2
    exit 1
  fi ;;
esac"""


# commit PATH... as the bot and push, rebasing and retrying when another push won the race; writes
# PREFIX_CHANGED (true/false) and PREFIX_SHA (the commit now at the head) to ENV_FILE for later jobs
_COMMIT = f"""bot_commit() {{  # ENV_FILE PREFIX TAGS(yes/no) MESSAGE PATH...
  env_file=$1; prefix=$2; tags=$3; message=$4; shift 4
  mkdir -p "$(dirname "$env_file")"
  for path in "$@"; do
    if [ -e "$path" ] || git ls-files --error-unmatch -- "$path" >/dev/null 2>&1; then git add -A -- "$path"; fi
  done
  if git diff --cached --quiet; then
    echo "nothing changed: no commit"
    echo "${{prefix}}_CHANGED=false" >> "$env_file"
  else
    {_NEED_TOKEN.replace(chr(10), chr(10) + "    ")}
    GIT_AUTHOR_NAME="{BOT_NAME}" GIT_AUTHOR_EMAIL="{BOT_EMAIL}" \\
      GIT_COMMITTER_NAME="{BOT_NAME}" GIT_COMMITTER_EMAIL="{BOT_EMAIL}" \\
      git commit --quiet --message "$message"
    pushed=""
    for attempt in 1 2 3 4 5; do
      if bot_git push --quiet "$FLOWTIDE_REMOTE" "HEAD:refs/heads/$CI_COMMIT_BRANCH"; then pushed=yes; break; fi
      echo "push lost a race with another commit (attempt $attempt); rebasing on $CI_COMMIT_BRANCH"
      sleep $((attempt * 3))
      bot_git fetch --quiet "$FLOWTIDE_REMOTE" "$CI_COMMIT_BRANCH"
      GIT_COMMITTER_NAME="{BOT_NAME}" GIT_COMMITTER_EMAIL="{BOT_EMAIL}" git rebase --quiet --autostash FETCH_HEAD
    done
    if [ -z "$pushed" ]; then echo "could not push to $CI_COMMIT_BRANCH after 5 attempts" >&2; return 1; fi
    if [ "$tags" = yes ]; then bot_git push --quiet "$FLOWTIDE_REMOTE" --tags || echo "could not push tags (ignored)"; fi
    echo "pushed $(git rev-parse --short HEAD) to $CI_COMMIT_BRANCH"
    echo "${{prefix}}_CHANGED=true" >> "$env_file"
  fi
  echo "${{prefix}}_SHA=$(git rev-parse HEAD)" >> "$env_file"
}}
"""

FUNCTIONS = f"{_GIT_AS_BOT}\n{_COMMIT}"
"""The shell functions every job defines first: ``bot_git`` (git with the push token) and ``bot_commit``."""


def commit(paths: list[str], message: str, env_file: str, prefix: str, *, tags: bool = False) -> str:
    """A ``bot_commit`` call: ``message`` is written inside double quotes, so `$VAR` references in it expand."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    return f'bot_commit {env_file} {prefix} {"yes" if tags else "no"} "{message}" {quoted}\n'


def checkout(variable: str) -> str:
    """Check out the commit an earlier job of this pipeline pushed (its sha in ``variable``), when there is one."""
    return f"""if [ -n "${{{variable}:-}}" ]; then
  bot_git fetch --quiet "$FLOWTIDE_REMOTE" "$CI_COMMIT_BRANCH"
  git checkout --quiet --force "${variable}"
  echo "checked out ${variable}, the commit an earlier job of this pipeline pushed"
fi
"""


def install(python: str, requirement_command: str, setup: str | None) -> list[str]:
    """A fresh virtualenv per job (a shell runner is shared), flowtide from the pinned `ci.install`, then `ci.setup`."""
    lines = [
        FUNCTIONS,
        f'python{python} -m venv "$CI_PROJECT_DIR/.flowtide/ci-venv"',
        '. "$CI_PROJECT_DIR/.flowtide/ci-venv/bin/activate"',
        *[line for line in requirement_command.splitlines() if line],
    ]
    if setup:
        lines.append(setup)
    return lines


DIFF = """mkdir -p reports
base="${CI_MERGE_REQUEST_DIFF_BASE_SHA:-HEAD~1}"
if git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
  # a regression is shown in the note, not fatal here
  flowtide diff --md "$base" > reports/diff.md || echo "flowtide diff exited $?"
else
  echo "no base revision $base to compare with" | tee reports/diff.md
fi
"""

# one note per merge request, updated in place; the token is read from the environment, never printed
NOTE = """python3 - <<'PY'
import json, os, sys, urllib.request
token = os.environ.get("FLOWTIDE_API_TOKEN", "")
if not token:
    print("no FLOWTIDE_API_TOKEN (a project access token, scope api, role Reporter): no merge-request note")
    sys.exit(0)
marker = "<!-- flowtide:metrics-diff -->"
try:
    diff = open("reports/diff.md", encoding="utf-8").read()
except FileNotFoundError:
    diff = "flowtide diff wrote no report"
body = (marker + "\\n" + diff)[:60000]
notes = "{}/projects/{}/merge_requests/{}/notes".format(
    os.environ["CI_API_V4_URL"], os.environ["CI_PROJECT_ID"], os.environ["CI_MERGE_REQUEST_IID"])
def call(method, url, data=None):
    request = urllib.request.Request(url, method=method, headers={"PRIVATE-TOKEN": token, "Content-Type": "application/json"},
                                     data=json.dumps(data).encode() if data is not None else None)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)
mine = [n for n in call("GET", notes + "?per_page=100&sort=asc")
        if marker in (n.get("body") or "") and (n.get("author") or {}).get("bot")]
if mine:
    call("PUT", "{}/{}".format(notes, mine[-1]["id"]), {"body": body})
    print("updated the metrics-diff note", mine[-1]["id"])
else:
    print("created the metrics-diff note", call("POST", notes, {"body": body})["id"])
PY
"""

REGISTER = """flowtide register --require-gates --json > reports/register.json
python - <<'PY'
import json
result = json.load(open("reports/register.json"))
version = result.get("version") or ""
if version:
    print(f"registered {result.get('model')} v{version}")
else:  # identical bytes: nothing new to deploy
    print(f"not registered: these bytes are already {result.get('model')} v{result.get('existing')} ({result.get('existing_stage')})")
with open("reports/train.env", "a") as env:
    env.write(f"FLOWTIDE_VERSION={version}\\n")
PY
"""

KEEP_MODEL = """size=$(stat -c %s "$MODEL_PATH")
if [ "$size" -gt "$MAX_BYTES" ]; then
  echo "$MODEL_PATH is $size bytes, over model.git_max_mb: it cannot be kept in git; set store.remote" >&2
  exit 1
fi
git add --force -- "$MODEL_PATH"
"""

# which version serves in production now (empty: none), read before this job moves anything
NEXT_STAGE = """production=$(flowtide models "$MODEL" --json | python -c '
import json, os, sys
versions = json.load(sys.stdin).get(os.environ["MODEL"], [])
print(next((v["version"] for v in versions if v["stage"] == "production"), ""))
')
if [ -z "$production" ]; then
  echo "no version of $MODEL is in production yet: v$FLOWTIDE_VERSION goes on to the production job (approval)"
  echo "FLOWTIDE_NEXT=production" >> reports/deploy.env
else
  echo "$MODEL v$production serves production: v$FLOWTIDE_VERSION serves as the canary; its promote verdict (monitor) asks for the production job"
  echo "FLOWTIDE_NEXT=canary" >> reports/deploy.env
fi
"""

MONITOR_OUTPUTS = """python - >> reports/monitor.env <<'PY'
import json, os
report = json.load(open("reports/monitor.json"))
promote = [v["canary"] for v in report.get("verdicts") or []
           if v["verdict"] == "promote" and v["model"] == os.environ["MODEL"]]
print("FLOWTIDE_RETRAIN=" + ("true" if report.get("needs_retraining") else "false"))
print("FLOWTIDE_PROMOTE=" + (str(promote[0]) if promote else ""))
PY
"""

# the cooldown's state is the branch's own history: a retraining pull commits with this mark
RETRAIN_MARK = "(monitor: drift or a drop)"
COOLDOWN = f"""if grep -q '^FLOWTIDE_RETRAIN=true$' reports/monitor.env; then
  since=$(( $(date +%s) - COOLDOWN_SECONDS ))
  bot_git fetch --quiet --shallow-since="@$since" "$FLOWTIDE_REMOTE" "$CI_COMMIT_BRANCH" 2>/dev/null \\
    || bot_git fetch --quiet "$FLOWTIDE_REMOTE" "$CI_COMMIT_BRANCH"
  if grep -q '^FLOWTIDE_PROMOTE=.' reports/monitor.env; then
    echo "drift or a drop, but a canary is up for promotion: no retraining in this pipeline"
    sed -i 's/^FLOWTIDE_RETRAIN=.*/FLOWTIDE_RETRAIN=false/' reports/monitor.env
  elif [ -n "$(git log --since="@$since" --fixed-strings --grep="{RETRAIN_MARK}" --format=%h FETCH_HEAD)" ]; then
    echo "a retraining within the cooldown ($COOLDOWN): not retraining again"
    sed -i 's/^FLOWTIDE_RETRAIN=.*/FLOWTIDE_RETRAIN=false/' reports/monitor.env
  else
    echo "drift or a performance drop: pulling the sources, then training on what is new"
  fi
fi
"""
