"""Deadlines, the escalation ladder, alerts and the channels they go out on (notify)."""
