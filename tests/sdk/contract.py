"""Contract check of the official Python SDK (PyPI `prompt-helm-sdk`) against
a running PromptHelm gateway.

Run by `tests/e2e/sdk_contract.rs`, which starts the runtime (pointed at the
stub provider), seeds a prompt and tokens, and asserts on what this prints.
This script only observes: it calls the SDK the way an application would and
prints ONE JSON object to stdout with what came back (SDK values and their
Python types, the SDK's exception class and attributes, and the raw HTTP
exchange under the SDK for wire-level checks). It makes no judgement, so a
failure is explained by the Rust side with the whole observation at hand.

Environment (all required unless noted):
  PH_BASE_URL            the runtime, e.g. http://127.0.0.1:3000
  PH_API_KEY             a token with gateway:execute
  PH_NO_SCOPE_API_KEY    a valid token without gateway:execute
  PH_UNKNOWN_API_KEY     a well-formed phk_ token that does not exist
  PH_PROMPT_SLUG         a promoted prompt with one required variable
  PH_VARIABLE            that variable's name
  PH_VALUE               a plain value for it
  PH_MISSING_SLUG        a slug no prompt has
  PH_TIMEOUT_MS          timeoutMs for the provider-timeout case
  PH_LIMITED_BASE_URL    a second runtime with a rate limit of 1 call/minute
  PH_LIMITED_API_KEY     a gateway:execute token there
  PH_LIMITED_PROMPT_SLUG a promoted prompt there (same variable)
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import traceback
from typing import Any, Callable

import httpx

import prompt_helm
from prompt_helm import PromptHelm, PromptHelmError


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"contract.py: environment variable {name} is required")
    return value


class Recorder(httpx.HTTPTransport):
    """Keeps each HTTP exchange under the SDK: status, headers and, for
    non-streaming answers, the raw body (the SDK converts values with int()
    and float(), which would hide a wrong JSON type on the wire)."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.url.path,
            "requestHeaders": {k.lower(): v for k, v in request.headers.items()},
            "status": response.status_code,
            "headers": {k.lower(): v for k, v in response.headers.items()},
        }
        if not request.url.path.endswith("/stream"):
            response.read()
            entry["body"] = response.text
        self.exchanges.append(entry)
        return response


recorder = Recorder()
http_client = httpx.Client(transport=recorder, timeout=30.0)


def client(
    api_key: str, base_url: str | None = None, request_id: str | None = None
) -> PromptHelm:
    # No retries: each case is exactly one HTTP exchange, so what the SDK
    # reports is the gateway's answer to that one call.
    return PromptHelm(
        api_key=api_key,
        base_url=base_url or env("PH_BASE_URL"),
        max_retries=0,
        timeout=30.0,
        headers={"x-request-id": request_id} if request_id else None,
        http_client=http_client,
    )


def describe_error(e: BaseException) -> dict[str, Any]:
    out: dict[str, Any] = {
        "class": type(e).__name__,
        "module": type(e).__module__,
        "mro": [c.__name__ for c in type(e).__mro__],
        "isPromptHelmError": isinstance(e, PromptHelmError),
        "message": str(e),
    }
    if isinstance(e, PromptHelmError):
        out["statusCode"] = e.status_code
        out["errorCode"] = e.error_code
        out["requestId"] = e.request_id
    else:
        out["traceback"] = traceback.format_exception(type(e), e, e.__traceback__)
    return out


def observe(fn: Callable[[], Any]) -> dict[str, Any]:
    """Runs one case; records its result or exception and its HTTP exchanges."""

    start = len(recorder.exchanges)
    out: dict[str, Any] = {}
    try:
        out["result"] = fn()
        out["ok"] = True
    except Exception as e:  # noqa: BLE001 - every outcome is an observation
        out["ok"] = False
        out["error"] = describe_error(e)
    out["exchanges"] = recorder.exchanges[start:]
    return out


def fields(obj: Any) -> dict[str, Any]:
    values = dataclasses.asdict(obj)
    return {
        "class": type(obj).__name__,
        "values": values,
        "types": {k: type(v).__name__ for k, v in values.items()},
    }


def main() -> None:
    key = env("PH_API_KEY")
    slug = env("PH_PROMPT_SLUG")
    var = env("PH_VARIABLE")
    value = env("PH_VALUE")
    ph = client(key)

    obs: dict[str, Any] = {"sdkVersion": prompt_helm.__version__}

    obs["execute"] = observe(
        lambda: fields(ph.execute(prompt_slug=slug, variables={var: value}))
    )
    obs["stream"] = observe(
        lambda: [fields(e) for e in ph.stream(prompt_slug=slug, variables={var: value})]
    )

    errors: dict[str, Any] = {}
    # The server's own request id (no X-Request-Id sent).
    errors["unauthorized"] = observe(
        lambda: fields(
            client(env("PH_UNKNOWN_API_KEY")).execute(
                prompt_slug=slug, variables={var: value}
            )
        )
    )
    # The rest send their own request id, which the gateway must echo.
    errors["forbidden"] = observe(
        lambda: fields(
            client(env("PH_NO_SCOPE_API_KEY"), request_id="sdk-contract-forbidden").execute(
                prompt_slug=slug, variables={var: value}
            )
        )
    )
    errors["notFound"] = observe(
        lambda: fields(
            client(key, request_id="sdk-contract-not-found").execute(
                prompt_slug=env("PH_MISSING_SLUG"), variables={var: value}
            )
        )
    )
    errors["missingVariables"] = observe(
        lambda: fields(
            client(key, request_id="sdk-contract-missing").execute(
                prompt_slug=slug, variables={}
            )
        )
    )
    errors["upstreamFailure"] = observe(
        lambda: fields(
            client(key, request_id="sdk-contract-upstream").execute(
                prompt_slug=slug, variables={var: f"{value} [[stub:status=500]]"}
            )
        )
    )
    errors["providerTimeout"] = observe(
        lambda: fields(
            client(key, request_id="sdk-contract-timeout").execute(
                prompt_slug=slug,
                variables={var: f"{value} [[stub:delay=2000]]"},
                timeout_ms=int(env("PH_TIMEOUT_MS")),
            )
        )
    )
    # A stream refused before it starts is an ordinary error answer.
    errors["streamNotFound"] = observe(
        lambda: [
            fields(e)
            for e in client(key, request_id="sdk-contract-stream-not-found").stream(
                prompt_slug=env("PH_MISSING_SLUG"), variables={var: value}
            )
        ]
    )

    # Rate limit 1 per clock minute: of three quick calls, two fall in the
    # same minute, so one of the later two is refused. Stop at the first.
    limited = client(env("PH_LIMITED_API_KEY"), base_url=env("PH_LIMITED_BASE_URL"))
    attempts = []
    for _ in range(3):
        a = observe(
            lambda: fields(
                limited.execute(
                    prompt_slug=env("PH_LIMITED_PROMPT_SLUG"), variables={var: value}
                )
            )
        )
        attempts.append(a)
        if not a["ok"]:
            break
    errors["rateLimited"] = {"attempts": attempts}

    obs["errors"] = errors
    json.dump(obs, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
