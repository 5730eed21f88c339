"""The process: settings, services, the web app and the worker, queue and outbox, logs, metrics, the clock, the
one outbound HTTP client."""
