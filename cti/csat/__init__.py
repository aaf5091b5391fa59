"""Customer satisfaction (CSAT): the caller's 1-5 rating of a call, and its figures."""
