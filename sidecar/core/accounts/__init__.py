"""Accounts: login, MFA, refresh, logout and session management against an identity service."""
