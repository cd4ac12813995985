"""Local frameworks (*lokale uitvoeringskaders*): a municipality's own rules within the shared set."""
