"""Request bodies: JSON only, with limits on size, nesting and the time a client takes to send it.

Every refusal is a :class:`~flowtide.serve.validate.RequestProblem` with a 4xx
status; a body that does not arrive within ``timeout`` seconds gets 408 and the
connection is closed (a client trickling its body would otherwise hold a
connection, and a slot, forever).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .validate import RequestProblem


async def read_json(receive, content_type: bytes, length: bytes | None, limit: int, timeout: float) -> Any:
    """The JSON body of a request, refusing wrong types, oversize, slow senders and hostile nesting with 4xx."""
    media = content_type.split(b";", 1)[0].strip().lower()
    if media != b"application/json" and not media.endswith(b"+json"):
        raise RequestProblem(415, "the body must be JSON: send Content-Type: application/json")
    if length:
        try:
            declared = int(length)
        except ValueError:
            raise RequestProblem(400, "invalid Content-Length") from None
        if declared > limit:
            raise RequestProblem(413, f"the body is larger than {limit} bytes")
    chunks = []
    size = 0
    more = True
    try:
        # one deadline for the whole body (a per-read timeout lets a client send a byte every few seconds)
        async with asyncio.timeout(timeout):
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise RequestProblem(400, "the client went away")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise RequestProblem(413, f"the body is larger than {limit} bytes")
                chunks.append(chunk)
                more = message.get("more_body", False)
    except TimeoutError:
        raise RequestProblem(
            408, f"the body did not arrive within {timeout:g} s ({size} bytes received)", close=True
        ) from None
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if not body:
        raise RequestProblem(400, "the body is empty: send a JSON object")
    try:
        return json.loads(body)
    except RecursionError:  # deep nesting: only ever an attack on the parser (rows are flat objects)
        raise RequestProblem(400, "the JSON is nested too deeply (rows are flat objects)") from None
    except ValueError as exc:
        raise RequestProblem(400, f"invalid JSON: {exc}") from None


async def request_json(request: Any, max_body: int, timeout: float) -> Any:
    """The JSON body of a Starlette request, with the same limits as /predict."""
    return await read_json(
        request.receive,
        request.headers.get("content-type", "").encode(),
        request.headers.get("content-length", "").encode() or None,
        max_body,
        timeout,
    )
