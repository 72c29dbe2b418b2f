"""Entry point of the `backoffice` console script."""

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else ""
    if command == "dev":
        from devstack.cli import main as dev_main

        return dev_main(args[1:])
    if command == "demo":
        from backoffice.demo import main as demo_main

        return demo_main(args[1:])
    if command == "api":
        from starters.api.server import main as api_main

        return api_main(args[1:])
    if command == "worker":
        from workers.main import main as worker_main

        return worker_main()
    from starters.cli import main as starters_main

    return starters_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
