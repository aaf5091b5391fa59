"""Live queue figures: waiting callers, agents by state, today so far; the wallboard."""
