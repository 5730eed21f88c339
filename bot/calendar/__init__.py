"""Working time: hours, the holiday calendar and its 调休 days."""
