import sys

from torchpit.server import main

sys.exit(main())
