"""The HTTP API under /api/v1/ (Django REST framework): REST and protobuf-over-HTTP over checkout.services."""
