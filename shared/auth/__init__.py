"""Who is calling: principals, roles, tokens, and the one FastAPI dependency that checks them."""
