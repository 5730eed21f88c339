"""Platform simulators for tests: small aiohttp servers that speak each platform's wire format, error codes included."""
