"""Where a remote's credentials and endpoint come from: the environment (AWS variables or a profile) and
``store.endpoint_url``, never a file flowtide writes."""

from __future__ import annotations

from typing import Any


def s3_options(endpoint_url: str | None, env: Any) -> dict[str, Any]:
    """s3fs options; secrets come from ``env`` (or boto's profiles), never from any file we write."""
    options: dict[str, Any] = {"skip_instance_cache": True}
    endpoint = endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        options["key"] = env["AWS_ACCESS_KEY_ID"]
        options["secret"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            options["token"] = env["AWS_SESSION_TOKEN"]
    elif env.get("AWS_PROFILE"):
        options["profile"] = env["AWS_PROFILE"]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["client_kwargs"] = {"region_name": region}
    return options


def credential_hint(protocol: str) -> str:
    if protocol in ("s3", "s3a"):
        return (
            "Credentials are read from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE and "
            "~/.aws); for MinIO, SeaweedFS and other S3-compatible services set store.endpoint_url."
        )
    return ""
