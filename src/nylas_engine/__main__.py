from nylas_engine.cli import run

run()
