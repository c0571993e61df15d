"""Fakes of the services hookwise talks to: real HTTP servers on loopback with in-memory state.

Each fake is a Starlette app on uvicorn, served in the test's own event loop on 127.0.0.1 at a free
port (tests.harness.serving); production code reaches it only through a base URL, as it would the
real service.
"""
