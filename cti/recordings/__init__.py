"""Recordings and quality review: the catalog of MixMonitor files, playback, QA reviews."""
