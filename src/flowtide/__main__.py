import sys

from flowtide.cli import main

sys.exit(main())
