"""Customers, their phone numbers and their orders."""
