"""Queue statistics and staffing."""
