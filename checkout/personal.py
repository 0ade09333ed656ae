"""Personal data (a consumer's delivery address, payment token, cancellation note) sealed with the consumer's own key.

Crypto-shredding (docs/operations.md, "Erasure of personal data"): a personal value is stored, logged, parked and
sent to the error sink only as a sealed token, ``sealed:v1:<consumer id>:<ciphertext>``, encrypted with the
consumer's key (``Consumer.personal_key``) by AES-SIV from the ``cryptography`` package. Erasure destroys the key
(``erase``), so every copy of every token, in every insert-only row, becomes unreadable at once and reads as
``[erased]``, while the facts around it (ids, totals, lineage) stay exactly as they were.

AES-SIV is deterministic: the same value under the same key always seals to the same token. That is what keeps
the command hash, and so idempotent replays, stable (a replayed body seals to the bytes it sealed to the first
time); the price is that two equal values of one consumer are seen to be equal, never what they are.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from checkout.initial_order.models import InitialOrder
from checkout.models import Consumer
from pipelines import Detail, InvalidArgument, NotFound, actions, ids

log = structlog.get_logger("checkout.personal")

ERASED = "[erased]"
SEALED = "[sealed]"  # a token whose consumer this instance does not know
PREFIX = "sealed:v1:"
ERASE_ACTION = "erase-consumer"
_UNOPENED = object()  # a token the key at hand does not open


def _key(consumer: Consumer) -> bytes | None:
    key = consumer.personal_key
    return None if key is None else bytes(key)  # PostgreSQL hands a memoryview back


def is_erased(consumer: Consumer) -> bool:
    return consumer.personal_key is None


def seal(consumer: Consumer, value: object, field: str) -> str:
    """``value`` (any JSON) as a token only ``consumer``'s key opens; INVALID_ARGUMENT once it is erased."""
    key = _key(consumer)
    if key is None:
        raise InvalidArgument("the consumer's personal data was erased", [Detail(field, "consumer erased")])
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    sealed = AESSIV(key).encrypt(text.encode("utf-8"), [consumer.id.encode("utf-8")])
    return f"{PREFIX}{consumer.id}:{base64.urlsafe_b64encode(sealed).decode('ascii')}"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def consumer_of(token: str) -> str:
    return token[len(PREFIX) :].rpartition(":")[0]


def open_token(token: str, keys: Mapping[str, bytes | None]) -> object:
    """The value ``token`` seals; ``ERASED`` when its consumer's key is gone, ``SEALED`` when ``keys`` has no entry
    for its consumer or that key does not open it (another instance's consumer of the same id, whose entry a
    central sink received, or a damaged token): a live key that fails says nothing about an erasure."""
    consumer_id = consumer_of(token)
    if consumer_id not in keys:  # not a consumer of this instance (a central error sink): never had the key
        return SEALED
    key = keys[consumer_id]
    if key is None:
        return ERASED
    value = _plain(token, bytes(key))
    return SEALED if value is _UNOPENED else value


def _plain(token: str, key: bytes) -> object:
    """The value ``token`` seals, opened with ``key``; ``_UNOPENED`` when the key does not open it."""
    consumer_id, _, text = token[len(PREFIX) :].rpartition(":")
    try:
        plain = AESSIV(key).decrypt(base64.urlsafe_b64decode(text), [consumer_id.encode("utf-8")])
    except (InvalidTag, binascii.Error, ValueError):
        return _UNOPENED
    return json.loads(plain)


def payment_token(consumer: Consumer | None, stored: str) -> str | None:
    """The payment token an order's payment step hands the gateway: ``stored`` (an ``InitialOrder``'s) opened with
    ``consumer``'s key; a token stored in clear (before tokens were sealed, or the default one) as it is. None once
    the consumer is erased, a token in clear too (nothing of theirs is charged anew), or when the key does not open
    the token: the order can no longer be charged with it."""
    if consumer is not None and is_erased(consumer):
        return None
    if not is_sealed(stored):
        return stored
    key = _key(consumer) if consumer is not None and consumer.id == consumer_of(stored) else None
    token = _UNOPENED if key is None else _plain(stored, key)
    return token if isinstance(token, str) else None


def opened(consumer: Consumer, token: str) -> object:
    """The value ``token`` seals, opened with ``consumer``'s live key; ``token`` itself when that key does not
    open it."""
    key = _key(consumer)
    value = _UNOPENED if key is None else _plain(token, key)
    return token if value is _UNOPENED else value


def _tokens(value: object, found: list[str]) -> None:
    if is_sealed(value):
        found.append(value)  # type: ignore[arg-type]
    elif isinstance(value, Mapping):
        for item in value.values():
            _tokens(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _tokens(item, found)


def _opened(value: object, keys: Mapping[str, bytes | None]) -> object:
    if is_sealed(value):
        return open_token(value, keys)  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        return {name: _opened(item, keys) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_opened(item, keys) for item in value]
    return value


def reveal(value: object) -> object:
    """``value`` (a field, a payload, any JSON) with every sealed token opened, or ``[erased]``: for display only
    (the console); what is stored, logged and sent stays sealed."""
    found: list[str] = []
    _tokens(value, found)
    if not found:
        return value
    wanted = {consumer_of(token) for token in found}
    keys = {c.id: _key(c) for c in Consumer.objects.filter(pk__in=wanted).only("id", "personal_key")}
    return _opened(value, keys)


# Where a payment token is kept: a checkpoint's column, a payload's or a command's key.
PAYMENT_TOKEN_KEYS = frozenset({"payment_token", "paymentToken"})


def token_hint(token: str) -> str:
    """A payment token as its last four characters: enough to tell two apart, not to charge with. ``[erased]`` and
    ``[sealed]`` stay as they are (they hold no token)."""
    if token in (ERASED, SEALED):
        return token
    return f"…{token[-4:]}" if len(token) > 4 else ("…" if token else "-")


# Where an item names its order and its consumer: a payload's or a command's key.
ORDER_KEYS = frozenset({"orderId", "order_id"})
CONSUMER_KEYS = frozenset({"consumerId", "consumer_id"})


def _held(value: object, found: dict[frozenset[str], set[str]]) -> None:
    """Every string under one of ``found``'s key sets, at any depth of ``value``, added to that set's values."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            for keys, values in found.items():
                if name in keys and isinstance(item, str) and item:
                    values.add(item)
            _held(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _held(item, found)


def _order_ids(values: set[str]) -> list[uuid.UUID]:
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return ids


def payment_tokens_to_hide(snapshot: object, event: Mapping[str, object] | None) -> dict[str, str]:
    """{token in clear: its hint} for every payment token a step of this item (its payload snapshot and event) may
    have handed the gateway, which a gateway's error may quote: the token at a ``PAYMENT_TOKEN_KEYS`` key of either,
    the token of each order they name (``InitialOrder.payment_token``, what the payment steps open) and each named
    consumer's token on file; sealed ones opened. Registered as the engine's scrubber (``CheckoutConfig.ready``)."""
    tokens: set[str] = set()
    orders: set[str] = set()
    consumers: set[str] = set()
    for value in (snapshot, event):
        _held(value, {PAYMENT_TOKEN_KEYS: tokens, ORDER_KEYS: orders, CONSUMER_KEYS: consumers})
    if ids := _order_ids(orders):
        for consumer_id, token in InitialOrder.objects.filter(order_id__in=ids).values_list(
            "consumer_id", "payment_token"
        ):
            consumers.add(consumer_id)
            tokens.add(token)
    consumers |= {consumer_of(token) for token in tokens if is_sealed(token)}
    keys: dict[str, bytes | None] = {}
    for consumer in Consumer.objects.filter(pk__in=consumers).only("id", "personal_key", "payment_token"):
        keys[consumer.id] = _key(consumer)
        if consumer.payment_token:
            tokens.add(consumer.payment_token)
    clear = {open_token(token, keys) if is_sealed(token) else token for token in tokens}
    return {token: token_hint(token) for token in clear if isinstance(token, str) and token not in (ERASED, SEALED)}


def sees_whole_payment_tokens(user: object) -> bool:
    """A payment token is a credential the gateway charges with: only a superuser, who manages reference data, sees
    it whole; every other console user and API principal sees ``token_hint`` (docs/operations.md, "Who sees a
    payment token")."""
    return bool(getattr(user, "is_superuser", False))


def _hinted(value: object) -> object:
    if isinstance(value, Mapping):
        return {
            name: token_hint(item) if name in PAYMENT_TOKEN_KEYS and isinstance(item, str) else _hinted(item)
            for name, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_hinted(item) for item in value]
    return value


def shown(value: object, user: object, field: str = "") -> object:
    """``value`` (the field ``field``, a payload, any JSON) as ``user`` may see it: sealed tokens opened
    (``reveal``), and every payment token, the field itself or a ``PAYMENT_TOKEN_KEYS`` key at any depth, as its
    hint unless ``sees_whole_payment_tokens(user)``. For display only: what is stored, logged and sent is unchanged."""
    opened = reveal(value)
    if sees_whole_payment_tokens(user):
        return opened
    if field in PAYMENT_TOKEN_KEYS and isinstance(opened, str):
        return token_hint(opened)
    return _hinted(opened)


@dataclass(frozen=True)
class Erasure:
    consumer_id: str
    ops_action_id: uuid.UUID
    already: bool  # the consumer had been erased before: nothing changed, no second audit row


def erase(consumer_id: str, *, actor: str, reason: str) -> Erasure:
    """Destroy the consumer's key and blank their name (and payment token); the consumer can no longer order.

    One audit row per consumer (an ``OpsAction`` with a deterministic id): erasing twice records once."""
    if not reason.strip():
        raise InvalidArgument("a reason is required", [Detail("reason", "is required")])
    actor, reason = actions.check_who(actor, reason)  # and no control characters in it
    action_id = ids.deterministic_id(ERASE_ACTION, consumer_id)
    with transaction.atomic(durable=True):
        consumer = Consumer.objects.select_for_update().filter(pk=consumer_id).first()
        if consumer is None:
            raise NotFound(f"consumer {consumer_id} not found")
        already = is_erased(consumer)
        if not already:
            Consumer.objects.filter(pk=consumer_id).update(
                name=ERASED, personal_key=None, payment_token="", active=False
            )
            # The console's own change history names the row as it was (``Consumer.__str__``: the name).
            LogEntry.objects.filter(
                content_type=ContentType.objects.get_for_model(Consumer), object_id=consumer_id
            ).update(object_repr=f"{ERASED} ({consumer_id})")
            # An erasure concerns a consumer, not one trace: the audit row's trace id is the erasure's own id.
            actions.record(
                ERASE_ACTION,
                action_id,
                actor=actor,
                reason=reason,
                preview_seq=None,
                result={"consumer": consumer_id, "erased": ["name", "deliveryAddress", "note", "paymentToken"]},
                action_id=action_id,
            )
    log.warning("consumer.erased", consumer_id=consumer_id, actor=actor, already=already)
    return Erasure(consumer_id, action_id, already)
