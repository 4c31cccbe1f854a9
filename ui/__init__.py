"""Shared dashboard plumbing: the cached engine and query results, and the page chrome."""
