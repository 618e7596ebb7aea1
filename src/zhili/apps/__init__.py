"""Scenario applications: each is a consumer organization's tool that reads through the exchange.

An app never opens the lake or the query engines itself; it holds a grant like any other
consumer, so what it may see is decided by the same door, masking and audit log.
"""
