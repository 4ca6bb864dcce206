"""Outbound webhooks (`platform.webhooks`, D12): merchant endpoints, signed the Standard Webhooks way."""
