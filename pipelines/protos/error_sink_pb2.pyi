from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorSinkEntry(_message.Message):
    __slots__ = ("id", "pipeline", "step", "item_type", "item_id", "trace_id", "error_class", "error_code", "retryable", "message", "traceback", "payload_json", "attempt", "created_at", "source", "branch")
    ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ITEM_TYPE_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    id: str
    pipeline: str
    step: str
    item_type: str
    item_id: str
    trace_id: str
    error_class: str
    error_code: str
    retryable: bool
    message: str
    traceback: str
    payload_json: str
    attempt: int
    created_at: str
    source: str
    branch: str
    def __init__(self, id: _Optional[str] = ..., pipeline: _Optional[str] = ..., step: _Optional[str] = ..., item_type: _Optional[str] = ..., item_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., error_class: _Optional[str] = ..., error_code: _Optional[str] = ..., retryable: _Optional[bool] = ..., message: _Optional[str] = ..., traceback: _Optional[str] = ..., payload_json: _Optional[str] = ..., attempt: _Optional[int] = ..., created_at: _Optional[str] = ..., source: _Optional[str] = ..., branch: _Optional[str] = ...) -> None: ...

class RecordResponse(_message.Message):
    __slots__ = ("id", "created")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    id: str
    created: bool
    def __init__(self, id: _Optional[str] = ..., created: _Optional[bool] = ...) -> None: ...
