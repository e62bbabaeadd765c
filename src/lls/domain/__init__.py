"""The licensing rules: sessions, seats, features, bindings and pool import; no HTTP, no SQL."""
