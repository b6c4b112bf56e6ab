"""HTTP layer: routes (thin), request parsing, JSON views of stored objects."""
