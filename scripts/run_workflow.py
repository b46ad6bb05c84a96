"""Kept for old command lines: `rectiflow-run` (rectiflow.headless.cli) does the work."""
import sys
from rectiflow.headless.cli import main
sys.exit(main())
