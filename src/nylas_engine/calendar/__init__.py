"""Calendar logic that is neither HTTP nor SQL: `when` objects, event input rules, recurrence
expansion and iCalendar replies (docs/protocol.md §4, §12)."""
