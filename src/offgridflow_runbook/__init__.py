"""Synthetic verification and chaos suite for the OffGridFlow API Down runbook."""
