"""PostgreSQL: the server we use, the pool, migrations, and queries by table."""
