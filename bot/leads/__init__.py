"""Leads: their types, the workflow and its gates, routing to a rep, the store, the service, queries, the audit
chain and exports."""
