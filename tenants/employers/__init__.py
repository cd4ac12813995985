"""Employers (*opdrachtgevers*): the clients who have flexible work done and pay per hour."""
