"""The execution contract (*uitvoeringscontract*) between the NVSI and the service company."""
