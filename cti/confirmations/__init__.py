"""Automated order-confirmation calls (press 1 to confirm, 2 to cancel, 0 for an agent)."""
