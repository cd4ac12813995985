"""Reports of a municipality: the go/no-go evaluation (financial and social results over a
period), with the small records it needs: arrangement changes and welfare exits (*uitstroom*)."""
