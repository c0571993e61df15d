"""Pure functions: no database, no sockets, no processes."""
