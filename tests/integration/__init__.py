"""Tests of one part at a time for real: the store over embedded PostgreSQL, handlers, the HTTP
app, clients against the fakes over sockets, the CLI and processes."""
