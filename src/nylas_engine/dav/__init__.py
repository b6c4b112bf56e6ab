"""Two-way sync of calendars (CalDAV, RFC 4791) and address books (CardDAV, RFC 6352).

discovery.py finds the collections, sync.py pulls changes (apply.py stores them), push.py
sends API writes, events.py and contacts.py translate iCalendar and vCard, worker.py runs
it all inside `serve`. The store side is store/dav.py and store/dav_writeback.py.
"""
