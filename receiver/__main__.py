"""`python -m receiver` is the `vapi-receiver` command."""

from receiver.cli import main

raise SystemExit(main())
