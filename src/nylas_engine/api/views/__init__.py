"""JSON views of stored objects (the wire shapes of wire-api §5-§13), one module per area."""
