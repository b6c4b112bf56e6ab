"""Calendar logic that is neither HTTP nor SQL: `when` objects, event input rules, recurrence
expansion and iCalendar replies (wire-api §4, §12)."""
