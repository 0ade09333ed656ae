from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OrderItem(_message.Message):
    __slots__ = ("menu_item_id", "quantity")
    MENU_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    menu_item_id: str
    quantity: int
    def __init__(self, menu_item_id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class Address(_message.Message):
    __slots__ = ("street1", "street2", "city", "state", "zip")
    STREET1_FIELD_NUMBER: _ClassVar[int]
    STREET2_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ZIP_FIELD_NUMBER: _ClassVar[int]
    street1: str
    street2: str
    city: str
    state: str
    zip: str
    def __init__(self, street1: _Optional[str] = ..., street2: _Optional[str] = ..., city: _Optional[str] = ..., state: _Optional[str] = ..., zip: _Optional[str] = ...) -> None: ...

class CreateOrderRequest(_message.Message):
    __slots__ = ("consumer_id", "restaurant_id", "items", "delivery_address", "delivery_time", "payment_token", "idempotency_key")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    RESTAURANT_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_TIME_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    restaurant_id: str
    items: _containers.RepeatedCompositeFieldContainer[OrderItem]
    delivery_address: Address
    delivery_time: str
    payment_token: str
    idempotency_key: str
    def __init__(self, consumer_id: _Optional[str] = ..., restaurant_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[OrderItem, _Mapping]]] = ..., delivery_address: _Optional[_Union[Address, _Mapping]] = ..., delivery_time: _Optional[str] = ..., payment_token: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class CancelOrderRequest(_message.Message):
    __slots__ = ("order_id", "note")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    note: str
    def __init__(self, order_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ReviseOrderRequest(_message.Message):
    __slots__ = ("order_id", "items", "idempotency_key")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    items: _containers.RepeatedCompositeFieldContainer[OrderItem]
    idempotency_key: str
    def __init__(self, order_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[OrderItem, _Mapping]]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GetLineageRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class Stalled(_message.Message):
    __slots__ = ("pipeline", "step", "error_class", "message", "attempts", "dead_lettered")
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERED_FIELD_NUMBER: _ClassVar[int]
    pipeline: str
    step: str
    error_class: str
    message: str
    attempts: int
    dead_lettered: bool
    def __init__(self, pipeline: _Optional[str] = ..., step: _Optional[str] = ..., error_class: _Optional[str] = ..., message: _Optional[str] = ..., attempts: _Optional[int] = ..., dead_lettered: _Optional[bool] = ...) -> None: ...

class OrderLine(_message.Message):
    __slots__ = ("menu_item_id", "name", "quantity", "unit_price", "line_total")
    MENU_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    LINE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    menu_item_id: str
    name: str
    quantity: int
    unit_price: str
    line_total: str
    def __init__(self, menu_item_id: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[str] = ..., line_total: _Optional[str] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("type", "id", "pipeline", "created_at")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    type: str
    id: str
    pipeline: str
    created_at: str
    def __init__(self, type: _Optional[str] = ..., id: _Optional[str] = ..., pipeline: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("order_id", "request_id", "state", "reason", "failure_code", "outcome", "stalled", "consumer_id", "restaurant_id", "order_total", "currency", "lines", "kitchen_ticket_id", "dispatch_id", "courier_id", "payment_id", "checkpoints", "revisions", "in_progress")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CODE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STALLED_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    RESTAURANT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    KITCHEN_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    COURIER_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    IN_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    request_id: str
    state: str
    reason: str
    failure_code: str
    outcome: str
    stalled: Stalled
    consumer_id: str
    restaurant_id: str
    order_total: str
    currency: str
    lines: _containers.RepeatedCompositeFieldContainer[OrderLine]
    kitchen_ticket_id: str
    dispatch_id: str
    courier_id: str
    payment_id: str
    checkpoints: _containers.RepeatedCompositeFieldContainer[Checkpoint]
    revisions: _containers.RepeatedCompositeFieldContainer[RevisionEntry]
    in_progress: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, order_id: _Optional[str] = ..., request_id: _Optional[str] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ..., failure_code: _Optional[str] = ..., outcome: _Optional[str] = ..., stalled: _Optional[_Union[Stalled, _Mapping]] = ..., consumer_id: _Optional[str] = ..., restaurant_id: _Optional[str] = ..., order_total: _Optional[str] = ..., currency: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[OrderLine, _Mapping]]] = ..., kitchen_ticket_id: _Optional[str] = ..., dispatch_id: _Optional[str] = ..., courier_id: _Optional[str] = ..., payment_id: _Optional[str] = ..., checkpoints: _Optional[_Iterable[_Union[Checkpoint, _Mapping]]] = ..., revisions: _Optional[_Iterable[_Union[RevisionEntry, _Mapping]]] = ..., in_progress: _Optional[_Iterable[str]] = ...) -> None: ...

class RevisionEntry(_message.Message):
    __slots__ = ("revision_id", "request_id", "outcome", "reason", "order_total", "lines", "requested_at")
    REVISION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ORDER_TOTAL_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    revision_id: str
    request_id: str
    outcome: str
    reason: str
    order_total: str
    lines: _containers.RepeatedCompositeFieldContainer[OrderLine]
    requested_at: str
    def __init__(self, revision_id: _Optional[str] = ..., request_id: _Optional[str] = ..., outcome: _Optional[str] = ..., reason: _Optional[str] = ..., order_total: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[OrderLine, _Mapping]]] = ..., requested_at: _Optional[str] = ...) -> None: ...

class Revision(_message.Message):
    __slots__ = ("revision_id", "outcome", "reason")
    REVISION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    revision_id: str
    outcome: str
    reason: str
    def __init__(self, revision_id: _Optional[str] = ..., outcome: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReviseOrderResponse(_message.Message):
    __slots__ = ("revision", "order")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    revision: Revision
    order: Order
    def __init__(self, revision: _Optional[_Union[Revision, _Mapping]] = ..., order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class Cancellation(_message.Message):
    __slots__ = ("outcome", "reason")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    outcome: str
    reason: str
    def __init__(self, outcome: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelOrderResponse(_message.Message):
    __slots__ = ("cancellation", "order")
    CANCELLATION_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    cancellation: Cancellation
    order: Order
    def __init__(self, cancellation: _Optional[_Union[Cancellation, _Mapping]] = ..., order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class LineageNode(_message.Message):
    __slots__ = ("id", "type", "pipeline", "step", "created_at", "parent_ids", "children")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PARENT_IDS_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    pipeline: str
    step: str
    created_at: str
    parent_ids: _containers.RepeatedScalarFieldContainer[str]
    children: _containers.RepeatedCompositeFieldContainer[LineageNode]
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., pipeline: _Optional[str] = ..., step: _Optional[str] = ..., created_at: _Optional[str] = ..., parent_ids: _Optional[_Iterable[str]] = ..., children: _Optional[_Iterable[_Union[LineageNode, _Mapping]]] = ...) -> None: ...

class IngestOrdersRequest(_message.Message):
    __slots__ = ("idempotency_key", "order")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    order: CreateOrderRequest
    def __init__(self, idempotency_key: _Optional[str] = ..., order: _Optional[_Union[CreateOrderRequest, _Mapping]] = ...) -> None: ...

class IngestError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class IngestOrdersResponse(_message.Message):
    __slots__ = ("idempotency_key", "order_id", "state", "error")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    order_id: str
    state: str
    error: IngestError
    def __init__(self, idempotency_key: _Optional[str] = ..., order_id: _Optional[str] = ..., state: _Optional[str] = ..., error: _Optional[_Union[IngestError, _Mapping]] = ...) -> None: ...

class WatchOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class OrderCheckpoint(_message.Message):
    __slots__ = ("type", "id", "pipeline", "created_at", "state")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    type: str
    id: str
    pipeline: str
    created_at: str
    state: str
    def __init__(self, type: _Optional[str] = ..., id: _Optional[str] = ..., pipeline: _Optional[str] = ..., created_at: _Optional[str] = ..., state: _Optional[str] = ...) -> None: ...
