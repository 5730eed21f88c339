"""Administration: apps and their health and diagnostics, people and directory sync, tenant settings."""
