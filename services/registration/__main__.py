"""`python -m services.registration`: run the service until SIGTERM or SIGINT."""

import asyncio

from services.registration.app import create_app


def main() -> None:
    app, _ = create_app()
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
