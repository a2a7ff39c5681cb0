from enrolsync.cli import main

main()
