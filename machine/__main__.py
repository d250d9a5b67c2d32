import sys

from machine.cli.main import main

sys.exit(main())
