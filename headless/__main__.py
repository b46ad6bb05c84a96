"""`python -m rectiflow.headless WORKFLOW.json ...` is `rectiflow-run WORKFLOW.json ...`."""
import sys

from .cli import main

sys.exit(main())
