import sys

from sam3.cli import main

sys.exit(main())
