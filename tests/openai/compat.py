"""The official OpenAI Python SDK (PyPI `openai`) against PromptHelm's
OpenAI-compatible endpoint (`/api/v1/openai/v1`).

Run by `tests/e2e/openai_compat.rs`, which starts the runtime (pointed at the
stub provider), seeds prompts and tokens, and asserts on what this prints.
Like tests/sdk/contract.py this script only observes: it calls the SDK the
way an application would and prints ONE JSON object with what came back.

Environment (all required):
  OA_BASE_URL        the runtime's OpenAI base URL, .../api/v1/openai/v1
  OA_API_KEY         a PromptHelm token with gateway:execute
  OA_UNKNOWN_API_KEY a well-formed phk_ token that does not exist
  OA_SLUG            a promoted prompt with one required variable
  OA_VARIABLE        that variable's name
  OA_TWO_SLUG        a promoted prompt with two required variables
  OA_LIMITED_BASE_URL, OA_LIMITED_API_KEY
                     a runtime with a rate limit of 1 call/minute, its token
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, Callable

import openai
from openai import OpenAI

ENV = os.environ


def client(base_url: str | None = None, api_key: str | None = None) -> OpenAI:
    # No retries: a 429 or 5xx must reach the script as the SDK's exception.
    return OpenAI(
        base_url=base_url or ENV["OA_BASE_URL"],
        api_key=api_key or ENV["OA_API_KEY"],
        max_retries=0,
        timeout=30,
    )


def completion(resp: Any) -> dict[str, Any]:
    choice = resp.choices[0]
    extra = getattr(resp, "model_extra", None) or {}
    return {
        "type": type(resp).__name__,
        "id": resp.id,
        "object": resp.object,
        "created": resp.created,
        "model": resp.model,
        "role": choice.message.role,
        "content": choice.message.content,
        "finish_reason": choice.finish_reason,
        "index": choice.index,
        "usage": resp.usage.model_dump() if resp.usage else None,
        "prompthelm": extra.get("prompthelm"),
    }


def stream(**kwargs: Any) -> dict[str, Any]:
    chunks = []
    with client().chat.completions.create(stream=True, **kwargs) as events:
        for chunk in events:
            chunks.append(
                {
                    "type": type(chunk).__name__,
                    "id": chunk.id,
                    "object": chunk.object,
                    "model": chunk.model,
                    "choices": [
                        {
                            "index": c.index,
                            "role": c.delta.role,
                            "content": c.delta.content,
                            "finish_reason": c.finish_reason,
                        }
                        for c in chunk.choices
                    ],
                    "usage": chunk.usage.model_dump() if chunk.usage else None,
                }
            )
    text = "".join(
        c["content"] or "" for chunk in chunks for c in chunk["choices"]
    )
    return {"chunks": chunks, "text": text}


def error(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "choices"):
            list(result)
    except openai.APIError as e:
        body = e.body if isinstance(e.body, dict) else {}
        status = getattr(e, "status_code", None)
        response = getattr(e, "response", None)
        return {
            "class": type(e).__name__,
            "status": status,
            "code": e.code,
            "type": e.type,
            "param": e.param,
            "message": e.message,
            "request_id": body.get("request_id"),
            "x_request_id": response.headers.get("x-request-id") if response else None,
        }
    return {"class": None, "result": repr(result)}


def main() -> dict[str, Any]:
    slug, variable = ENV["OA_SLUG"], ENV["OA_VARIABLE"]
    obs: dict[str, Any] = {"openaiVersion": openai.__version__}

    # Sync, the variable from the last user message; raw to see headers.
    raw = client().chat.completions.with_raw_response.create(
        model=f"prompt:{slug}",
        messages=[
            {"role": "system", "content": "ignored"},
            {"role": "user", "content": "ignored too"},
            {"role": "user", "content": "Ada"},
        ],
    )
    obs["sync"] = completion(raw.parse())
    obs["sync"]["x_request_id"] = raw.headers.get("x-request-id")
    obs["sync"]["status"] = raw.status_code

    # Sync, the variable through extra_body, parameters mapped.
    obs["syncVariables"] = completion(
        client().chat.completions.create(
            model=f"prompt:{slug}",
            messages=[{"role": "user", "content": "not used"}],
            extra_body={"prompthelm_variables": {variable: "Grace"}},
            temperature=0.5,
            max_tokens=32,
            top_p=0.9,
            stop=["END"],
            user="end-user-1",
        )
    )

    # The development version.
    obs["development"] = completion(
        client().chat.completions.create(
            model=f"prompt:{slug}@development",
            messages=[{"role": "user", "content": "Linus"}],
        )
    )

    # Streaming, with the usage chunk.
    obs["stream"] = stream(
        model=f"prompt:{slug}",
        messages=[{"role": "user", "content": "Ada"}],
        stream_options={"include_usage": True},
    )
    obs["streamPlain"] = stream(
        model=f"prompt:{slug}",
        messages=[{"role": "user", "content": "Ada"}],
    )

    # A plain model runs ad hoc: system + last user message.
    obs["adHoc"] = completion(
        client().chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello there"},
            ],
        )
    )

    models = client().models.list()
    obs["models"] = {
        "ids": [m.id for m in models.data],
        "objects": sorted({m.object for m in models.data}),
        "owned_by": sorted({m.owned_by for m in models.data}),
        "created": [m.created for m in models.data],
    }

    messages = [{"role": "user", "content": "x"}]
    obs["errors"] = {
        "badToken": error(
            lambda: client(api_key=ENV["OA_UNKNOWN_API_KEY"]).chat.completions.create(
                model=f"prompt:{slug}", messages=messages
            )
        ),
        "badTokenModels": error(
            lambda: client(api_key=ENV["OA_UNKNOWN_API_KEY"]).models.list()
        ),
        "unknownPrompt": error(
            lambda: client().chat.completions.create(
                model="prompt:no-such-prompt", messages=messages
            )
        ),
        "unknownPromptStream": error(
            lambda: client().chat.completions.create(
                model="prompt:no-such-prompt", messages=messages, stream=True
            )
        ),
        "missingVariables": error(
            lambda: client().chat.completions.create(
                model=f"prompt:{ENV['OA_TWO_SLUG']}", messages=messages
            )
        ),
        "badTemperature": error(
            lambda: client().chat.completions.create(
                model=f"prompt:{slug}", messages=messages, temperature=5
            )
        ),
        "badEnvironment": error(
            lambda: client().chat.completions.create(
                model=f"prompt:{slug}@staging", messages=messages
            )
        ),
        "unsupportedModel": error(
            lambda: client().chat.completions.create(
                model="not-a-model", messages=messages
            )
        ),
    }

    # Rate limit 1 per clock minute: of three quick calls, two fall in the
    # same minute, so the second or the third is refused. Stop at the first.
    limited = client(ENV["OA_LIMITED_BASE_URL"], ENV["OA_LIMITED_API_KEY"])
    ask = lambda: limited.chat.completions.create(  # noqa: E731
        model=f"prompt:{slug}", messages=[{"role": "user", "content": "Ada"}]
    )
    obs["limitedFirst"] = ask().choices[0].message.content
    accepted = 1
    for _ in range(2):
        refusal = error(ask)
        if refusal["class"] is not None:
            break
        accepted += 1
    obs["limitedAccepted"] = accepted
    obs["errors"]["rateLimited"] = refusal
    return obs


if __name__ == "__main__":
    try:
        print(json.dumps(main()))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
