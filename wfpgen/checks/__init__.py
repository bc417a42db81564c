"""Verification of generated drivers without Windows: host simulation scenarios, captures."""
