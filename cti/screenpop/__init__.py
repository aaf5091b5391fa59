"""Screen-pop: domain events to per-agent WebSocket frames, and the agent desktop."""
