"""`python -m services.notifications`: run the service until SIGTERM or SIGINT."""

import asyncio

from services.notifications.app import create_app


def main() -> None:
    app, _ = create_app()
    asyncio.run(app.run(sleep_time=1.0))  # how often it checks for a stop signal; 0.1 s by default


if __name__ == "__main__":
    main()
