"""The shared rule set: the agreements all members run the instrument under, as dated data."""
