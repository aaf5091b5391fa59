"""Tickets (work orders): questions, complaints, returns, callbacks, order changes; call notes."""
