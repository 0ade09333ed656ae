"""The characters no stored text may hold, for every layer that checks text before storing it.

PostgreSQL cannot store a NUL, neither backend can encode an unpaired surrogate (a str holds one only when a client
sent an escape such as ``"\\ud800"`` or a command line held bytes that are no UTF-8), and the other control characters
are refused so that both backends refuse the same input.
"""

from __future__ import annotations

import re

# In a name, an id or a one-line value: every control character (Unicode Cc: C0, DEL, C1) and the surrogates.
NOT_A_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# In free text (an audit row's reason): the same, but tab and line breaks are text.
NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
