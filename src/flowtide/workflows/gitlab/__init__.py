"""GitLab CI: the same loop as the GitHub workflows, as one `.gitlab-ci.yml`.

``pipeline.render`` builds the file (its shell in ``scripts``), ``check`` validates it
with check-jsonschema, ``simulate`` evaluates its rules for an event, and ``local``
runs it with gitlab-ci-local (shell executor, no Docker).
"""
