import sys

from seqserve_cli.main import main

sys.exit(main())
