"""OpenAI chat-completions client that writes plant care text as JSON."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import requests

from app.providers.base import ProviderError, setting
from app.providers.http import (ProviderClient, error_text, is_success, json_body, parse_guard,
                                send, status_error, timeout_from)

NAME = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
QUOTA_CODES = frozenset({"insufficient_quota", "credit_balance_exhausted"})

SYSTEM_PROMPT = (
    "You are a horticulturist who writes short, practical plant care guides for home gardeners. "
    "Answer with one JSON object only, using exactly the keys the user lists."
)
USER_PROMPT = (
    "Write care instructions for {plant}. Return a JSON object with these keys: "
    "overview (string), difficulty_level (\"easy\", \"moderate\" or \"difficult\"), "
    "light {{requirement, details, indoor_placement}}, "
    "water {{frequency, amount, method, seasonal_changes, signs_of_overwatering, signs_of_underwatering}}, "
    "soil {{type, ph, drainage}}, temperature {{ideal_range, minimum, notes}}, humidity {{level, tips}}, "
    "fertilizer {{type, frequency, notes}}, pruning (string), propagation (string), "
    "common_problems (list of strings), toxicity (string). Use plain text values, no Markdown."
)


def _clean(text: str) -> str:
    # Names come from other providers; keep them to one short line inside the prompt.
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()[:120]


def parse_completion(payload: Any) -> dict[str, Any]:
    """Decode the JSON object in choices[0].message.content; refuse truncated or refused answers."""
    choice = payload["choices"][0]
    if choice.get("finish_reason") == "length":
        raise ProviderError(NAME, "bad_response", message="answer was cut off (finish_reason=length)")
    message = choice["message"]
    if message.get("refusal"):
        raise ProviderError(NAME, "bad_response", message="model refused to answer")
    content = message["content"]
    if not isinstance(content, str):
        raise ValueError("message content is not a string")
    try:
        care = json.loads(content)
    except ValueError:
        raise ProviderError(NAME, "bad_response", message="message content is not valid JSON") from None
    if not isinstance(care, dict):
        raise ValueError("message content is not a JSON object")
    return care


def _error(response: requests.Response) -> ProviderError:
    error = status_error(NAME, response, error_text(response))
    if response.status_code == 429:
        try:
            envelope = response.json().get("error") or {}
        except (ValueError, AttributeError):
            envelope = {}
        if envelope.get("code") in QUOTA_CODES or envelope.get("type") in QUOTA_CODES:
            # Out of credit: retrying cannot help until someone pays.
            return ProviderError(NAME, "rate_limited", 429, error.message, retryable=False)
        error.retryable = error.retry_after is not None
    return error


class OpenAICareClient(ProviderClient):
    """Generate care instructions with an OpenAI chat model in JSON mode."""

    name = NAME
    key_setting = "OPENAI_API_KEY"
    url_setting = "OPENAI_BASE_URL"
    default_base_url = DEFAULT_BASE_URL

    default_timeout = (3.05, 60.0)

    def __init__(self, api_key: str, *, model: str = "gpt-4o-mini", max_completion_tokens: int = 1500,
                 **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        self.model = model
        self.max_completion_tokens = max_completion_tokens

    @classmethod
    def options_from(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        connect, read = timeout_from(settings)
        # A whole JSON answer arrives in one piece after generation, so allow longer than identification.
        read = float(settings.get("OPENAI_READ_TIMEOUT") or max(read, 60.0))
        return {"timeout": (connect, read), "model": setting(settings, "OPENAI_MODEL")}

    def care_text(self, scientific_name: str, common_name: str | None = None) -> dict[str, Any]:
        """Return care instructions for the species as a dict decoded from the model's JSON answer."""
        plant = _clean(scientific_name)
        if not plant:
            raise ValueError("scientific_name is empty")
        if common_name and _clean(common_name):
            plant = f"{plant} ({_clean(common_name)})"
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": USER_PROMPT.format(plant=plant)},
            ],
            "response_format": {"type": "json_object"},
            "max_completion_tokens": self.max_completion_tokens,
        }
        return self._guard.run(lambda: self._complete(body))

    def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        response = send(self.session, NAME, "POST", f"{self.base_url}/chat/completions", timeout=self.timeout,
                        headers={"Authorization": f"Bearer {self._api_key}"}, json=body)
        if not is_success(response):
            raise _error(response)
        return parse_guard(NAME, parse_completion, json_body(NAME, response))
