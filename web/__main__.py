"""``python -m web``: serve the demo page and the staff console on WEB_HOST:WEB_PORT."""

from __future__ import annotations

import logging
import os

from web.app import create_app
from web.settings import get_web_settings

logger = logging.getLogger("web")


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_web_settings()
    app = create_app(settings)
    # access_log off: request lines carry staff search terms and conversation ids.
    app.run(host=settings.host, port=settings.port, access_log=False, workers=1, motd=False)


if __name__ == "__main__":
    main()
