"""``manage.py export``: the library's command, with the project's safe CSV/XLSX formats.

Cells starting with = + - @ are escaped (spec/files.md); other formats pass through.
"""

import importlib

from insurer.imports import FORMATS_BY_NAME

LibraryExportCommand = importlib.import_module("import_export.management.commands.export").Command


class Command(LibraryExportCommand):
    help = "リソースの内容を出力します（CSV・XLSX は数式になりうるセルをエスケープ）。"

    def handle(self, *args, **options):
        name = (options.get("format") or "").lower()
        if name in FORMATS_BY_NAME:
            options["format"] = (
                f"{FORMATS_BY_NAME[name].__module__}.{FORMATS_BY_NAME[name].__name__}"
            )
        return super().handle(*args, **options)
