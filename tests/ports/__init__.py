"""GitHub in memory behind the port reactions use, its conformance with the HTTP fake, and the
reactions tested against it."""
