.PHONY: demo test bench bench-sync bench-load bench-api

# Every target runs in the project's virtual environment .venv, made with a Python >= 3.10
# found on this machine (or `make demo PYTHON=/path/to/python3`): scripts/venv.sh.
export PYTHON

# The main job: install, serve the demo mailboxes on http://127.0.0.1:5555/ (their mail going
# to a local mail sink), read one with the SDK (examples/quickstart.py), keep serving until
# Ctrl-C. See scripts/demo.sh for its settings.
demo:
	bash scripts/demo.sh

# Everything CI runs: install, ruff, mypy, pytest.
test:
	bash scripts/test.sh

bench:
	bash scripts/venv.sh engine,test,dev
	.venv/bin/python bench/run.py

# Initial IMAP sync of 10,000 messages from a real Dovecot, alternating with mbsync and
# offlineimap on the same mailbox (installed with apt-get when missing and root) and with the
# floor of a Python sync (bench/sync_floor.py): wall, CPU and peak RSS ratios, inbox-usable
# time, new-mail-to-delta latency (needs dovecot-imapd/-lmtpd).
bench-sync:
	bash scripts/venv.sh engine,test,dev,bench
	.venv/bin/python bench/sync.py

# 100 concurrent clients for 60 s mixing reads, writes and sends, on SQLite and PostgreSQL,
# against a 10-client baseline; checks every acknowledged write and send afterwards.
bench-load:
	bash scripts/venv.sh engine,postgres,test,dev
	.venv/bin/python bench/load.py

# List pages, one message, a 300-message thread and search on 10,000 imported messages with
# wrk, each against a bare uvicorn app returning the same bytes (needs wrk).
bench-api:
	bash scripts/venv.sh engine,postgres,test,dev
	.venv/bin/python bench/api.py
