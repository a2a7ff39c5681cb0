"""Persistence: engines, tables, repositories, secret encryption and migrations."""
