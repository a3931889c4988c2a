"""`python -m services.notifications`: run the service until SIGTERM or SIGINT."""

import asyncio

from services.notifications.app import create_app


def main() -> None:
    app, _ = create_app()
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
