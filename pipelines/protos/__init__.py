"""Protobuf messages and gRPC stubs of the engine's ``tpfgo.ops.v1`` services (generated code is committed)."""
