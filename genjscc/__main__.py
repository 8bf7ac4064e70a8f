from genjscc.cli import main

main()
