.PHONY: demo test bench bench-sync bench-load

# The main job: install, serve a demo mailbox on http://127.0.0.1:5555/, read it with the SDK
# (examples/quickstart.py), keep serving until Ctrl-C. See scripts/demo.sh for its settings.
demo:
	bash scripts/demo.sh

# Everything CI runs: install, ruff, mypy, pytest.
test:
	bash scripts/test.sh

bench:
	python3 -m pip install -q --disable-pip-version-check -e '.[engine,test,dev]'
	python3 bench/run.py

# Initial IMAP sync of 10,000 messages from a real Dovecot, alternating with mbsync and
# offlineimap on the same mailbox (installed with apt-get when missing and root): wall, CPU and
# peak RSS ratios, inbox-usable time, new-mail-to-delta latency (needs dovecot-imapd/-lmtpd).
bench-sync:
	python3 -m pip install -q --disable-pip-version-check -e '.[engine,test,dev]'
	python3 bench/sync.py

# 100 concurrent clients for 60 s mixing reads, writes and sends, on SQLite and PostgreSQL,
# against a 10-client baseline; checks every acknowledged write and send afterwards.
bench-load:
	python3 -m pip install -q --disable-pip-version-check -e '.[engine,test,dev]'
	python3 bench/load.py
