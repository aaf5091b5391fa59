"""Click-to-call: an agent calls a customer back from the desktop (``POST /api/v1/calls``)."""
