"""gRPC servicers of ``tpfgo.checkout.v1`` (django-grpc-framework services over ``checkout.services``)."""
