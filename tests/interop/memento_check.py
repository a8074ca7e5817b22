"""Ask our replay server for mementos with an independent Memento client (memento_client, in its own venv:
`.venv-memento`, made by `make test`), and print what it understood as JSON.

    .venv-memento/bin/python tests/interop/memento_check.py TIMEGATE_PREFIX URL DATETIME_ISO...
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from memento_client import MementoClient  # type: ignore[import-not-found]  # only in .venv-memento


def main() -> int:
    timegate, url, *moments = sys.argv[1:]
    client = MementoClient(timegate_uri=timegate, check_native_timegate=False)
    out = []
    for moment in moments:
        info = client.get_memento_info(url, datetime.fromisoformat(moment))
        mementos = info.get("mementos", {})
        out.append({"asked": moment, "original_uri": info.get("original_uri"), "timegate_uri": info.get("timegate_uri"),
                    **{rel: {"uri": m["uri"][0], "datetime": m["datetime"].isoformat()}
                       for rel, m in mementos.items()}})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
