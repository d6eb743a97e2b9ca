"""authsidecar-client: call the authsidecar gRPC API from Python.

    from authsidecar_client import AsyncClient, Client

Middleware (optional extras): `authsidecar_client.starlette` (Starlette, FastAPI) and
`authsidecar_client.flask` (Flask, any WSGI app); neither framework is imported unless you import it.
"""

from authsidecar_client.client import IDEMPOTENT, AsyncClient, Client
from authsidecar_client.errors import status_details, upstream_error

__all__ = ["IDEMPOTENT", "AsyncClient", "Client", "status_details", "upstream_error"]
