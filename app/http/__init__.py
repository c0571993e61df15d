"""The web app: webhooks in, health out. Knows nothing of handlers."""

from app.http.app import create_app

__all__ = ["create_app"]
