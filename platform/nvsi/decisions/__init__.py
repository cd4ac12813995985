"""Collective decisions of the members (proposals to change the shared rule set, and their
votes) and the yearly agreements on joint further development (*doorontwikkeling*)."""
