"""The municipality's dashboard (*overzicht*): the figures of its instrument at a glance."""
