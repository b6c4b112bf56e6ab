"""IMAP in: connecting real mailboxes and keeping the store in step with them (issue 4).

`imap` connects and classifies failures, `folders` maps IMAP folders to categories,
`messages` syncs one folder, `run` one account, `worker` keeps accounts synced inside
`nylas-engine serve`, and `cli` holds the `accounts add` / `sync` commands.
"""
