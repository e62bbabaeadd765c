"""The HTTP face of LLS: client licensing API, admin API, health and metrics; JSON lives here."""
