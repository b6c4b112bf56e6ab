.PHONY: demo test bench

# The main job: the engine with a demo mailbox on http://127.0.0.1:5555/ (Ctrl-C stops it).
demo:
	python3 -m pip install -q --disable-pip-version-check -e '.[engine]'
	nylas-engine --data-dir .demo-data demo

# Everything CI runs: install, ruff, mypy, pytest.
test:
	bash scripts/test.sh

bench:
	python3 -m pip install -q --disable-pip-version-check -e '.[engine,test,dev]'
	python3 bench/run.py
