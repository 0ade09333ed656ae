"""A search request, as every transport takes it: one serializer documents the body (REST's schema) and validates
it (REST and gRPC both pass their request through ``canonical``), and the idempotency key's rule."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from django.conf import settings
from rest_framework import serializers

from pipelines import NOT_BLANK_PRINTABLE, InvalidArgument, StrictSerializer, Text, flatten, ids

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

KEY_PATTERN = ids.KEY_PATTERN
check_key = ids.check_key
MAX_TEXT = 200
MAX_TERMS = 10
MAX_TOKENS = 16


def token_pattern(shards: int) -> str:
    """What the schema says of a token (docs/lanes.md's table): a shard this site fans a query out to, 1 to
    ``shards`` written without a leading zero, or analytics."""
    numbers = "|".join(str(n) for n in range(1, shards + 1))
    return f"^(shard({numbers})_(flaky_[1-9]|down|slow)|analytics_(flaky_[1-9]|down))$"


TOKEN_PATTERN = token_pattern(settings.TPFGO_SEARCH_SHARDS)
TEXT_ISSUE = f"must be a string of at most {MAX_TEXT} characters"
TEXT_ERRORS = {
    "required": "is required",
    "blank": "is required",
    "null": "is required",
    "min_length": "is required",
    "invalid": TEXT_ISSUE,
    "max_length": TEXT_ISSUE,
}
NOT_A_TOKEN = f"is not a simulator token of shards 1 to {settings.TPFGO_SEARCH_SHARDS}"  # docs/lanes.md lists them
TOKEN_ERRORS: dict[str, str | _StrPromise] = {
    "invalid": NOT_A_TOKEN,
    "blank": NOT_A_TOKEN,
    "max_length": NOT_A_TOKEN,
    "null": NOT_A_TOKEN,
}


class SearchRequestSerializer(StrictSerializer):
    """``text``: what to search for (its first 10 distinct words are the terms; a text without a word has none,
    and no results); ``tokens``: the shard simulator's failure tokens (``shard3_flaky_1``, ``shard5_slow``,
    ``analytics_down``...)."""

    text = Text(max_length=MAX_TEXT, schema_pattern=NOT_BLANK_PRINTABLE, error_messages=TEXT_ERRORS)
    tokens = serializers.ListField(
        # A RegexField, so the schema carries the pattern; white space around a token is trimmed.
        child=serializers.RegexField(TOKEN_PATTERN, max_length=40, error_messages=TOKEN_ERRORS),
        required=False,
        max_length=MAX_TOKENS,
        default=list,
        error_messages={
            "max_length": f"at most {MAX_TOKENS} tokens",
            "not_a_list": "must be a list of strings",
            "null": "must be a list of strings",  # absent is no tokens; null is not a list
        },
    )

    def validate_text(self, text: str) -> str:
        # The schema's pattern (NOT_BLANK_PRINTABLE) refuses a text of white space only; so does the server.
        if not text.strip():
            raise serializers.ValidationError(TEXT_ERRORS["blank"])
        return text


def canonical(data: object) -> dict[str, Any]:
    """The request validated and completed (terms, shards, deadline), or INVALID_ARGUMENT field by field."""
    serializer = SearchRequestSerializer(data=data)
    if not serializer.is_valid():
        raise InvalidArgument("the search request is invalid", flatten(serializer.errors))
    text: str = serializer.validated_data["text"]
    words = list(dict.fromkeys(word.lower() for word in re.findall(r"\w+", text)))
    terms = sorted(words[:MAX_TERMS])  # the first ten distinct words are searched for; the rest are not
    return {
        "text": text,
        "terms": terms,
        "tokens": sorted(set(serializer.validated_data["tokens"])),
        "shards": settings.TPFGO_SEARCH_SHARDS,
        "deadlineMs": settings.TPFGO_SEARCH_DEADLINE_MS,
    }


def command_hash(command: dict[str, Any]) -> str:
    """The request as the client sent it (text and tokens), so a replay with another request is a conflict."""
    sent = {"text": command["text"], "tokens": command["tokens"]}
    return hashlib.sha256(json.dumps(sent, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
