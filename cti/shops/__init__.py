"""Shops: the shop backends we call customers for (webhook, signing secrets, calling window)."""
