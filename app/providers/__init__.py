"""Clients for the external plant APIs, their circuit breakers, stats and local fakes."""
