"""Agents: directory, live state from AMI, and login/logout/pause/unpause through AMI."""
