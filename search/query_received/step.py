"""Record the validated query as its first fact (``search.services`` validated it and fixed shards and deadline)."""

from __future__ import annotations

from pipelines import Command, Output, StepContext


def process(ctx: StepContext[Command]) -> Output:
    command = ctx.input.payload
    return Output(
        {
            "query_id": ctx.input.id,
            "request_key": command["requestKey"],
            "text": command["text"],
            "terms": command["terms"],
            "shards": command["shards"],
            "deadline_ms": command["deadlineMs"],
            "tokens": command["tokens"],
            "command_hash": command["commandHash"],
        }
    )
