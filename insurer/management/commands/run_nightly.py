import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from insurer.models import JobRun
from insurer.services import nightly_run
from members.flags import flag_label


class Command(BaseCommand):
    help = (
        "夜間処理（75歳到達の資格喪失、対応フラグの更新、資格確認書の期限切れ）を同期実行します。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="処理日 YYYY-MM-DD（既定: 今日、Asia/Tokyo）")
        parser.add_argument(
            "--force",
            action="store_true",
            help="実施済みの日付でも再実行する（変更がないことの確認）",
        )

    def handle(self, *args, **options):
        day = timezone.localdate()
        if options["date"]:
            day = parse_date(options["date"])
            if day is None:
                raise CommandError(f"日付は YYYY-MM-DD で指定してください: {options['date']}")
        run = nightly_run(run_date=day, trigger="command", force=options["force"])
        self.stdout.write(f"夜間処理 {day}: {run.get_status_display()}（実行記録 #{run.pk}）")
        if run.note:
            self.stdout.write(run.note)
        for line in summary_lines(run):
            self.stdout.write("  " + line)
        if run.status == JobRun.Status.FAILED:
            self.stderr.write(run.error)
            sys.exit(1)


def summary_lines(run: JobRun) -> list[str]:
    counts = run.counts or {}
    if run.status in (JobRun.Status.SKIPPED, JobRun.Status.FAILED):
        return []
    lines = []
    if "loss_at_75" in counts:
        lines.append(f"75歳到達による資格喪失: {counts['loss_at_75']}人")
    for label, key in (("発生したフラグ", "opened"), ("解消したフラグ", "closed")):
        items = counts.get(key) or {}
        detail = "、".join(f"{flag_label(key)} {n}" for key, n in items.items()) or "なし"
        lines.append(f"{label}: {sum(items.values())}件（{detail}）")
    if "certificates_expired" in counts:
        lines.append(f"期限切れにした資格確認書: {counts['certificates_expired']}件")
    return lines
