"""dsreg."""
