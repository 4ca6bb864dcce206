"""Outbound webhooks (`platform.webhooks`): merchant endpoints, signed the Standard Webhooks way."""
