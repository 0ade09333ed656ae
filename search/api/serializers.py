"""The answer's wire shape, for the schema (``search.view`` builds it; these document it)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class ResultSerializer(serializers.Serializer[dict[str, Any]]):
    rank = serializers.IntegerField()
    docId = serializers.CharField()
    shard = serializers.IntegerField()
    score = serializers.IntegerField()
    terms = serializers.ListField(child=serializers.CharField())


class ShardSerializer(serializers.Serializer[dict[str, Any]]):
    shard = serializers.IntegerField()
    inTime = serializers.BooleanField()
    latencyMs = serializers.IntegerField()
    hits = serializers.IntegerField()


class SearchAnswerSerializer(serializers.Serializer[dict[str, Any]]):
    queryId = serializers.UUIDField()
    text = serializers.CharField()
    terms = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=["RANKED", "PARTIAL", "STALLED"])
    missingShards = serializers.ListField(child=serializers.IntegerField())
    totalHits = serializers.IntegerField()
    results = ResultSerializer(many=True)
    shards = ShardSerializer(many=True)
