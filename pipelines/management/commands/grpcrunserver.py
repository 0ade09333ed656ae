"""``manage.py grpcrunserver [ADDRESS]``: django-grpc-framework's server, fixed for Django 5.2 (see grpc_compat)."""

from pipelines.transport.grpc_compat import RunserverCommand as Command

__all__ = ["Command"]
