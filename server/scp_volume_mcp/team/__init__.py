"""Team mode (`SCP_DATABASE_URL`): PostgreSQL shared by every replica."""
