"""The reference OffGridFlow API: the system under test."""
