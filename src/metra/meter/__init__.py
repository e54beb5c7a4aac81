"""Virtual smart meters: measurement model, COSEM object model and their faults."""
