"""Adapters behind the ports: the Sent client (httpx) and the vault (Fernet)."""
