from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContractField(_message.Message):
    __slots__ = ("number", "name", "type", "required")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    number: int
    name: str
    type: str
    required: bool
    def __init__(self, number: _Optional[int] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., required: _Optional[bool] = ...) -> None: ...

class ExpectedContract(_message.Message):
    __slots__ = ("contract", "version", "fields")
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    contract: str
    version: int
    fields: _containers.RepeatedCompositeFieldContainer[ContractField]
    def __init__(self, contract: _Optional[str] = ..., version: _Optional[int] = ..., fields: _Optional[_Iterable[_Union[ContractField, _Mapping]]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("publication", "subscriber", "start", "expect")
    PUBLICATION_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    EXPECT_FIELD_NUMBER: _ClassVar[int]
    publication: str
    subscriber: str
    start: str
    expect: ExpectedContract
    def __init__(self, publication: _Optional[str] = ..., subscriber: _Optional[str] = ..., start: _Optional[str] = ..., expect: _Optional[_Union[ExpectedContract, _Mapping]] = ...) -> None: ...

class SubscriptionItem(_message.Message):
    __slots__ = ("seq", "position", "publication", "checkpoint_type", "checkpoint_id", "trace_id", "created_at", "payload_json", "heartbeat")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    PUBLICATION_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    position: int
    publication: str
    checkpoint_type: str
    checkpoint_id: str
    trace_id: str
    created_at: str
    payload_json: str
    heartbeat: bool
    def __init__(self, seq: _Optional[int] = ..., position: _Optional[int] = ..., publication: _Optional[str] = ..., checkpoint_type: _Optional[str] = ..., checkpoint_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., created_at: _Optional[str] = ..., payload_json: _Optional[str] = ..., heartbeat: _Optional[bool] = ...) -> None: ...

class AcknowledgeRequest(_message.Message):
    __slots__ = ("publication", "subscriber", "position")
    PUBLICATION_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    publication: str
    subscriber: str
    position: int
    def __init__(self, publication: _Optional[str] = ..., subscriber: _Optional[str] = ..., position: _Optional[int] = ...) -> None: ...

class AcknowledgeResponse(_message.Message):
    __slots__ = ("position",)
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: int
    def __init__(self, position: _Optional[int] = ...) -> None: ...
