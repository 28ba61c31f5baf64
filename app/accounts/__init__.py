"""Accounts: registration, sign-in, profiles, roles."""
