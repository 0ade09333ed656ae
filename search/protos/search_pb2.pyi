from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchRequest(_message.Message):
    __slots__ = ("text", "tokens")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    text: str
    tokens: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, text: _Optional[str] = ..., tokens: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAnswerRequest(_message.Message):
    __slots__ = ("query_id",)
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    def __init__(self, query_id: _Optional[str] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("rank", "doc_id", "shard", "score", "terms")
    RANK_FIELD_NUMBER: _ClassVar[int]
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    rank: int
    doc_id: str
    shard: int
    score: int
    terms: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rank: _Optional[int] = ..., doc_id: _Optional[str] = ..., shard: _Optional[int] = ..., score: _Optional[int] = ..., terms: _Optional[_Iterable[str]] = ...) -> None: ...

class Shard(_message.Message):
    __slots__ = ("shard", "in_time", "latency_ms", "hits")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    IN_TIME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    shard: int
    in_time: bool
    latency_ms: int
    hits: int
    def __init__(self, shard: _Optional[int] = ..., in_time: _Optional[bool] = ..., latency_ms: _Optional[int] = ..., hits: _Optional[int] = ...) -> None: ...

class SearchAnswer(_message.Message):
    __slots__ = ("query_id", "text", "terms", "status", "missing_shards", "total_hits", "results", "shards")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MISSING_SHARDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_HITS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    text: str
    terms: _containers.RepeatedScalarFieldContainer[str]
    status: str
    missing_shards: _containers.RepeatedScalarFieldContainer[int]
    total_hits: int
    results: _containers.RepeatedCompositeFieldContainer[Result]
    shards: _containers.RepeatedCompositeFieldContainer[Shard]
    def __init__(self, query_id: _Optional[str] = ..., text: _Optional[str] = ..., terms: _Optional[_Iterable[str]] = ..., status: _Optional[str] = ..., missing_shards: _Optional[_Iterable[int]] = ..., total_hits: _Optional[int] = ..., results: _Optional[_Iterable[_Union[Result, _Mapping]]] = ..., shards: _Optional[_Iterable[_Union[Shard, _Mapping]]] = ...) -> None: ...
