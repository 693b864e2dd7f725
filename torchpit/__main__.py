from torchpit.cli import main

raise SystemExit(main())
