"""Protobuf messages and gRPC stubs of ``tpfgo.checkout.v1`` (generated code is committed; ``make protos``)."""
