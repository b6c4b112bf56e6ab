"""Tables, queries and migrations. Routes call functions here; nothing above builds SQL."""
