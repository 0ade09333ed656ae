"""Settings of the durability crash test's processes: the project's, with the sweeper resuming in its own process
(``manage.py sweep`` completes what a crash left, no worker needed)."""

from tpfgo_site.settings import *  # noqa: F403

TPFGO_RESUME_ENQUEUE = ""
