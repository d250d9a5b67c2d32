import sys

from machine.cli.fast import main

sys.exit(main())
