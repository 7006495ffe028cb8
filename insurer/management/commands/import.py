"""``manage.py import``: django-import-export's command, made all-or-nothing.

Same arguments as the library's command. Differences (spec/files.md):
- the file is read as bytes: UTF-8 with or without BOM by default (CP932 accepted too),
  or the ``--encoding`` given;
- every invalid row is printed as ``N行目 [column]: reason`` and the command exits 1,
  having written nothing;
- on success it prints the counts, including rows skipped as stale;
- a CSV file of a set-based resource (members, status) is streamed: read once to check
  the header, count the rows and note the households, then again in chunks that are
  checked and written (memory flat in the file's size); other files are read whole;
- every 10,000 rows it writes a progress line to stderr (``取込中: 50,000 / 200,000 行``),
  and it keeps no per-row result (only the problems and the counts).
"""

import importlib
import sys

from django.core.management.base import CommandError
from import_export.command_utils import get_format_class, get_resource_class
from import_export.results import RowResult

from insurer.imports import CSV, CsvSource, import_day, import_problems, shown
from insurer.management.job_command import parse_job_date

# The library's module is named `import`, a keyword, so it cannot be imported by name.
PROGRESS_FROM = 10_000  # rows; smaller files import without progress lines

LibraryImportCommand = importlib.import_module("import_export.management.commands.import").Command


class Command(LibraryImportCommand):
    help = "ファイルを取り込みます（全行が正しいときだけ書き込みます）。"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--date",
            help="日付の妥当性をこの処理日で判定する YYYY-MM-DD（既定: 今日、Asia/Tokyo）",
        )

    def handle(self, *args, **options) -> None:
        day = None
        if options.get("date"):
            day = parse_job_date(options["date"])
        with import_day(day):
            self.import_file(options)

    def import_file(self, options) -> None:
        if options["interactive"] and input("取り込みますか？ [yes/no]: ") != "yes":
            raise CommandError("取り込みを中止しました。")
        resource = get_resource_class(options["resource"])(progress=self.progress, lean=True)
        format_class = self.format_class(options)
        file_name = options["import_file_name"]
        if resource.set_based and isinstance(format_class, CSV):
            # Streamed: read twice (checked, then written), never held whole.
            try:
                source = self.csv_source(file_name, format_class.encoding)
                result = resource.import_set_based(source, dry_run=options["dry_run"])
            except ValueError as error:  # no encoding reads the file
                raise CommandError(str(error) or "ファイルを読み取れません。") from None
            except OSError as error:
                raise CommandError(
                    f"ファイルを開けません: {file_name}（{error.strerror}）"
                ) from None
        else:
            dataset = self.read_dataset(file_name, format_class)
            if len(dataset) >= PROGRESS_FROM:
                self.stderr.write(f"読み込み完了: {len(dataset):,} 行。取り込みを始めます。")
            result = resource.import_data(
                dataset, dry_run=options["dry_run"], raise_errors=options["raise_errors"]
            )

        problems = import_problems(result, resource)
        if problems:
            for problem in problems:
                self.stderr.write(str(problem))
            raise CommandError(f"{len(problems)}件の誤りがあるため、何も書き込んでいません。")
        totals = result.totals
        stale = getattr(resource, "stale_lines", [])
        summary = (
            f"取り込み完了（{resource._meta.model._meta.verbose_name}）: "
            f"新規 {totals[RowResult.IMPORT_TYPE_NEW]}件、"
            f"更新 {totals[RowResult.IMPORT_TYPE_UPDATE]}件、"
            f"スキップ {totals[RowResult.IMPORT_TYPE_SKIP]}件"
        )
        if stale:
            summary += f"（うち基準日が古く適用しなかった行 {len(stale)}件: {self.lines(stale)}）"
        if options["dry_run"]:
            summary += "。--dry-run のため何も書き込んでいません"
        self.stdout.write(summary + "。")

    def progress(self, done: int, total: int) -> None:
        if done == 0:
            self.stderr.write(f"読み込み完了: {total:,} 行。取り込みを始めます。")
        else:
            self.stderr.write(f"取込中: {done:,} / {total:,} 行")
        self.stderr.flush()

    @staticmethod
    def format_class(options):
        name = (options.get("format") or "").lower()
        if name == "csv" or (not name and options["import_file_name"].lower().endswith(".csv")):
            return CSV(encoding=options.get("encoding"))
        return get_format_class(
            options.get("format"), options["import_file_name"], options.get("encoding")
        )

    @staticmethod
    def csv_source(file_name: str, encoding: str | None) -> CsvSource:
        if file_name == "-":
            return CsvSource.from_bytes(sys.stdin.buffer.read(), encoding)
        open(file_name, "rb").close()  # a missing file is said before anything else
        return CsvSource.from_path(file_name, encoding)

    @staticmethod
    def read_dataset(file_name: str, format_class):
        """The file's rows, read once: a CSV file is decoded as it is parsed (the bytes
        and the text are never both held whole)."""
        try:
            if isinstance(format_class, CSV) and file_name != "-":
                return format_class.read_path(file_name)
            if file_name == "-":
                data = sys.stdin.buffer.read()
            else:
                with open(file_name, "rb") as file:
                    data = file.read()
            if not format_class.is_binary() and not isinstance(format_class, CSV):
                data = data.decode(format_class.encoding or "utf-8-sig")
            return format_class.create_dataset(data)
        except OSError as error:
            raise CommandError(f"ファイルを開けません: {file_name}（{error.strerror}）") from None
        except ValueError as error:
            raise CommandError(str(error) or "ファイルを読み取れません。") from None
        except Exception as error:  # tablib's parsers raise many kinds
            raise CommandError(
                f"ファイルを読み取れません（{type(error).__name__}: {shown(str(error))}）。"
            ) from None

    @staticmethod
    def lines(numbers: list[int], limit: int = 20) -> str:
        shown = ", ".join(f"{n}行目" for n in numbers[:limit])
        return shown + (" ほか" if len(numbers) > limit else "")
