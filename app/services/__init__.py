"""Domain logic as plain Python: no Qt here."""
