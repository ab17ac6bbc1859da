"""The GitHub Actions workflows, one builder module per file: ``ci``, ``data``, ``train``, ``deploy``, ``monitor``.

Each module's ``build(config)`` returns the workflow as a plain mapping (``_yaml.dump`` writes it);
``schedules`` holds the cron and duration helpers several of them share.
"""
