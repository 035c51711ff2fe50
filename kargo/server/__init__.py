"""The FastAPI application: REST API, Server-Sent Events, authentication, webhooks."""
