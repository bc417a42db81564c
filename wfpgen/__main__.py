from wfpgen.cli import main

main()
