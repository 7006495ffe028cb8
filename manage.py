#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "insurer.settings")
    from django.core.management import execute_from_command_line

    from insurer.keys import KeyConfigurationError

    try:
        execute_from_command_line(sys.argv)
    except KeyConfigurationError as error:
        # Missing or weak keys: the operator needs the message, not a traceback.
        sys.stderr.write(f"{error}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
