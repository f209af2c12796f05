"""The registry's adapters: its PostgreSQL tables and its S3 bundles."""
