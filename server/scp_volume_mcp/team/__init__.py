"""Team mode (`SCP_DATABASE_URL`): PostgreSQL shared by every replica.

- `database`: the URL helpers, the connection pools and the schema step (audit and pending tables).
- `coordinator`: `TeamCoordinator`, the per-volume advisory lock and the registry of pending resizes.
- `reader`: `read_rows`, the synchronous reader of the audit table for `scp-volume-mcp audit`.
"""
