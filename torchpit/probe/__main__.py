"""``python -m torchpit.probe``: the probe subcommand on its own."""

from torchpit.probe.cli import main

raise SystemExit(main())
