"""The scopes, the principal kinds that hold them, and the scope (and owner) each route asks for.

A route absent from these tables asks for ``admin``, which only ops principals hold: a new route is closed to
every other caller until a row here opens it.
"""

from __future__ import annotations

from dataclasses import dataclass

# scope → what it allows
SCOPES = {
    "orders:place": "place orders (a bound client: for its own consumer only)",
    "orders:read": "read an order, its lineage, watch it",
    "orders:cancel": "ask to cancel an order",
    "orders:revise": "revise an order",
    "tickets:decide": "accept or reject a kitchen ticket",
    "deliveries:complete": "confirm a delivery's pickup and drop-off",
    "couriers:availability": "make a courier available or not",
    "restaurants:read": "list restaurants and their menus",
    "reference:read": "list consumers and couriers",
    "reference:write": "create consumers, restaurants and couriers",
    "errors:write": "record an error-sink entry forwarded by another instance",
    "subscriptions:follow": "follow a publication from a log position and acknowledge positions",
    "search:query": "search, and read a query's answer (the search lane, docs/lanes.md)",
    "ftgo:register": "register consumers and restaurants through /ftgo/ (FTGO's consumer and restaurant services)",
    "admin": "any route without a scope of its own",
}

ORDERING = ("orders:place", "orders:read", "orders:cancel", "orders:revise", "restaurants:read")
RESTAURANT = ("tickets:decide",)
COURIER = ("deliveries:complete", "couriers:availability")
# FTGO's clients register consumers and restaurants through the services the gateway stands in for.
FTGO_REGISTRATION = ("ftgo:register",)


@dataclass(frozen=True)
class Kind:
    """A kind of principal: the scopes its tokens get, and what it is bound to ("" when it acts for anyone)."""

    name: str
    scopes: tuple[str, ...]
    binds: str = ""  # "consumer", "restaurant" or "courier"


KINDS = {
    kind.name: kind
    for kind in (
        Kind("ordering-client", ORDERING, binds="consumer"),
        Kind("restaurant", RESTAURANT, binds="restaurant"),
        Kind("courier", COURIER, binds="courier"),
        Kind("error-sink", ("errors:write",)),
        # Another service that follows publications (docs/subscriptions.md): nothing else.
        Kind("subscriber", ("subscriptions:follow",)),
        # A client of the search lane: searches and reads answers, nothing of orders.
        Kind("search-client", ("search:query",)),
        Kind("ops", tuple(SCOPES)),
        # FTGO's API gateway acts for any consumer, restaurant, kitchen and courier: those roles' scopes, unbound,
        # and (on /ftgo/ only) FTGO's registration of consumers and restaurants.
        Kind("ftgo-gateway", tuple(dict.fromkeys(ORDERING + RESTAURANT + COURIER + FTGO_REGISTRATION))),
    )
}


@dataclass(frozen=True)
class Rule:
    """What a route asks for: a scope, and for a bound principal, whose resource the call touches.

    ``owner`` names what ``field`` holds: ``consumer`` or ``courier`` (the id itself), ``order`` (its consumer),
    ``ticket`` (its restaurant) or ``dispatch`` (its courier). ``field`` is a URL parameter, a JSON body field or
    a request message field. ``bulk``: the call carries many owners (a stream of orders), so only a principal
    bound to no one may make it. ``unbound``: the call names its resource by FTGO's number (the ``/ftgo/``
    surface), which a binding cannot be checked against, so only a principal bound to no one may make it.
    """

    scope: str
    owner: str = ""
    field: str = ""
    bulk: bool = False
    unbound: bool = False


ADMIN = Rule("admin")
READ_ORDER = Rule("orders:read", "order", "order_id")
DECIDE_TICKET = Rule("tickets:decide", "ticket", "ticket_id")
COMPLETE_DELIVERY = Rule("deliveries:complete", "dispatch", "dispatch_id")

# (URL name, method) → rule, for REST, protobuf-over-HTTP and FUNCTION (they share the DRF views).
HTTP = {
    ("api-orders", "POST"): Rule("orders:place", "consumer", "consumerId"),
    ("api-orders-ingest", "POST"): Rule("orders:place", bulk=True),
    ("api-order", "GET"): READ_ORDER,
    ("api-order-lineage", "GET"): READ_ORDER,
    ("api-order-cancel", "POST"): Rule("orders:cancel", "order", "order_id"),
    ("api-order-revise", "POST"): Rule("orders:revise", "order", "order_id"),
    ("api-ticket-accept", "POST"): DECIDE_TICKET,
    ("api-ticket-reject", "POST"): DECIDE_TICKET,
    ("api-delivery-pickup", "POST"): COMPLETE_DELIVERY,
    ("api-delivery-dropoff", "POST"): COMPLETE_DELIVERY,
    ("api-consumers", "GET"): Rule("reference:read"),
    ("api-consumers", "POST"): Rule("reference:write"),
    ("api-restaurants", "GET"): Rule("restaurants:read"),
    ("api-restaurants", "POST"): Rule("reference:write"),
    ("api-couriers", "GET"): Rule("reference:read"),
    ("api-couriers", "POST"): Rule("reference:write"),
    ("api-courier-availability", "PUT"): Rule("couriers:availability", "courier", "courier_id"),
    ("api-error-sink-entries", "POST"): Rule("errors:write"),
    ("api-subscription-stream", "POST"): Rule("subscriptions:follow"),
    ("api-subscription-ack", "POST"): Rule("subscriptions:follow"),
    ("api-search", "POST"): Rule("search:query"),
    ("api-search-answer", "GET"): Rule("search:query"),
}

# The /ftgo/ surface (docs/ftgo.md): FTGO's numbers name every resource, so every route is for unbound principals.
FTGO_ROUTES = {
    "ftgo:register": (
        ("ftgo-consumers", "POST"),
        ("ftgo-consumer", "GET"),
        ("ftgo-account", "GET"),
        ("ftgo-restaurants", "POST"),
    ),
    "restaurants:read": (("ftgo-restaurant", "GET"),),
    "orders:place": (("ftgo-orders", "POST"),),
    "orders:read": (("ftgo-orders", "GET"), ("ftgo-order", "GET"), ("ftgo-delivery", "GET")),
    "orders:cancel": (("ftgo-order-cancel", "POST"),),
    "orders:revise": (("ftgo-order-revise", "POST"),),
    "tickets:decide": (("ftgo-ticket-accept", "POST"),),
    "couriers:availability": (("ftgo-courier", "POST"),),
}
HTTP.update({route: Rule(scope, unbound=True) for scope, routes in FTGO_ROUTES.items() for route in routes})

ORDERS = "/tpfgo.checkout.v1.OrderService/"
# gRPC method → rule; ``field`` is a field of the request message.
GRPC = {
    ORDERS + "CreateOrder": Rule("orders:place", "consumer", "consumer_id"),
    ORDERS + "IngestOrders": Rule("orders:place", bulk=True),
    ORDERS + "GetOrder": READ_ORDER,
    ORDERS + "GetLineage": READ_ORDER,
    ORDERS + "WatchOrder": READ_ORDER,
    ORDERS + "CancelOrder": Rule("orders:cancel", "order", "order_id"),
    ORDERS + "ReviseOrder": Rule("orders:revise", "order", "order_id"),
    "/tpfgo.ops.v1.ErrorSinkService/Record": Rule("errors:write"),
    "/tpfgo.ops.v1.SubscriptionService/Subscribe": Rule("subscriptions:follow"),
    "/tpfgo.ops.v1.SubscriptionService/Acknowledge": Rule("subscriptions:follow"),
    "/tpfgo.search.v1.SearchService/Search": Rule("search:query"),
    "/tpfgo.search.v1.SearchService/GetAnswer": Rule("search:query"),
}


def http_rule(url_name: str | None, method: str) -> Rule:
    return HTTP.get((url_name or "", "GET" if method == "HEAD" else method), ADMIN)


def grpc_rule(route: str) -> Rule:
    return GRPC.get(route, ADMIN)
