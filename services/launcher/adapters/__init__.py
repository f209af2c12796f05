"""The launcher's adapters: PostgreSQL, the registry over HTTP, S3 logs, settings."""
