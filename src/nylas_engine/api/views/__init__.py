"""JSON views of stored objects (the wire shapes of docs/protocol.md §5-§13), one module per
area."""
