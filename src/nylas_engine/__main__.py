from nylas_engine.cli import main

main()
