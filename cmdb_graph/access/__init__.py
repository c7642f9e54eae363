"""Who may do what: API keys (stored hashed, as `ApiKey` nodes) and the roles they carry."""
