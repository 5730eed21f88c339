"""What happens in chat: lead cards sent and updated, button clicks, text commands, the test card."""
