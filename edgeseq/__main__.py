"""``python -m edgeseq`` (and ``torchrun -m edgeseq``) runs the CLI."""

from edgeseq.cli import main

raise SystemExit(main())
