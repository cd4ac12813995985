"""The NVSI's product catalogue (*productenboek*) and the members' requests for access."""
