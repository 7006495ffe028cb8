"""What the commands that run a scheduled job share: `--date` (default today in
Asia/Tokyo), `--force`, the status line with the JobRun, and the exit code: 0 done (or
already done for that date), 1 failed, 3 skipped because another run holds the lock,
4 not run because the job it needs has not succeeded for that date."""

import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from insurer.jobs import FAILED_EXIT_CODE, LOCKED_EXIT_CODE, NOT_READY_EXIT_CODE
from insurer.models import JobRun
from insurer.priority import batch_priority_lower

SKIP_EXIT_CODES = {"locked": LOCKED_EXIT_CODE, "not_ready": NOT_READY_EXIT_CODE}


def parse_job_date(text: str) -> date:
    """A command's `--date`: YYYY-MM-DD, a real day, or a Japanese error."""
    try:
        day = parse_date(text)
    except ValueError:  # well formed but not a date, e.g. 2026-13-01
        day = None
    if day is None:
        raise CommandError(f"日付は YYYY-MM-DD で指定してください: {text}")
    return day


class JobCommand(BaseCommand):
    title = ""  # the job's name in the status line
    date_help = "処理日 YYYY-MM-DD（既定: 今日、Asia/Tokyo）"
    force_help = "実施済みの日付でも再実行する"

    def add_arguments(self, parser):
        parser.add_argument("--date", help=self.date_help)
        parser.add_argument("--force", action="store_true", help=self.force_help)

    def run_job(self, *, run_date: date, force: bool) -> JobRun:
        raise NotImplementedError

    def report_counts(self, run: JobRun) -> None:
        """Write what the run did (subclasses)."""

    def handle(self, *args, **options):
        day = parse_job_date(options["date"]) if options["date"] else timezone.localdate()
        batch_priority_lower()  # the clerks' requests first (insurer/priority.py)
        run = self.run_job(run_date=day, force=options["force"])
        self.stdout.write(f"{self.title} {day}: {run.get_status_display()}（実行記録 #{run.pk}）")
        if run.note:
            self.stdout.write(run.note)
        self.report_counts(run)
        if run.status == JobRun.Status.FAILED:
            self.stderr.write(run.error)
            sys.exit(FAILED_EXIT_CODE)
        code = SKIP_EXIT_CODES.get(getattr(run, "skip_reason", ""))
        if code:
            sys.exit(code)
