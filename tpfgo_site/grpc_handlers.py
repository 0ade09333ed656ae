"""The gRPC services this process serves (django-grpc-framework's ``ROOT_HANDLERS_HOOK``)."""

from __future__ import annotations

import grpc

from pipelines import generic_handler


def grpc_handlers(server: grpc.Server) -> None:
    from checkout.rpc.services import SERVICE, OrderService

    server.add_generic_rpc_handlers((generic_handler(SERVICE, OrderService.as_servicer()),))
    from checkout.rpc.streams import OrderStreams
    from pipelines import stream_handler

    # IngestOrders and WatchOrder (streams): same service, their own handler.
    server.add_generic_rpc_handlers((stream_handler(SERVICE, OrderStreams.as_servicer()),))
    from pipelines import ERROR_SINK_SERVICE as SINK_SERVICE
    from pipelines import ErrorSinkService

    # tpfgo.ops.v1.ErrorSinkService (pipelines/protos/error_sink.proto): this instance as a central error sink.
    server.add_generic_rpc_handlers((generic_handler(SINK_SERVICE, ErrorSinkService.as_servicer()),))
    from pipelines import SUBSCRIPTION_SERVICE, SubscriptionService

    # tpfgo.ops.v1.SubscriptionService (pipelines/protos/subscriptions.proto): follow a publication from a position.
    servicer = SubscriptionService.as_servicer()
    server.add_generic_rpc_handlers((generic_handler(SUBSCRIPTION_SERVICE, servicer),))
    server.add_generic_rpc_handlers((stream_handler(SUBSCRIPTION_SERVICE, servicer),))
    from search.rpc.services import SERVICE as SEARCH_SERVICE
    from search.rpc.services import SearchService

    # tpfgo.search.v1.SearchService (search/protos/search.proto): the search lane (docs/lanes.md).
    server.add_generic_rpc_handlers((generic_handler(SEARCH_SERVICE, SearchService.as_servicer()),))


def service_names() -> list[str]:
    """The full names of the services ``grpc_handlers`` registers (for health and reflection)."""
    from checkout.rpc.services import SERVICE
    from pipelines import ERROR_SINK_SERVICE as SINK_SERVICE
    from pipelines import SUBSCRIPTION_SERVICE
    from search.rpc.services import SERVICE as SEARCH_SERVICE

    return [SERVICE.full_name, SINK_SERVICE.full_name, SUBSCRIPTION_SERVICE.full_name, SEARCH_SERVICE.full_name]
