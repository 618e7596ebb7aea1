"""The web edge: FastAPI routers (JSON API and server-rendered pages), thin over services."""
