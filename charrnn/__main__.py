"""`python -m charrnn ...` is the `charrnn` command."""

import sys

from charrnn.commands.main import main

if __name__ == "__main__":
    sys.exit(main())
