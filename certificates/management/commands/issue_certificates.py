import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from certificates.issuing import certificates_issue_run
from insurer.models import JobRun


class Command(BaseCommand):
    help = "定期発行: 対応中のフラグ（資格確認書が必要・更新対象・再交付が必要）ごとに資格確認書を1バッチで交付します。"

    def add_arguments(self, parser):
        parser.add_argument("--date", help="交付日 YYYY-MM-DD（既定: 今日、Asia/Tokyo）")
        parser.add_argument("--force", action="store_true", help="実施済みの日付でも再実行する")

    def handle(self, *args, **options):
        day = timezone.localdate()
        if options["date"]:
            day = parse_date(options["date"])
            if day is None:
                raise CommandError(f"日付は YYYY-MM-DD で指定してください: {options['date']}")
        run = certificates_issue_run(run_date=day, trigger="command", force=options["force"])
        counts = run.counts or {}
        issued = sum((counts.get("issued") or {}).values())
        self.stdout.write(
            f"資格確認書の定期発行 {day}: {run.get_status_display()}（実行記録 #{run.pk}）"
        )
        if run.note:
            self.stdout.write(run.note)
        if "batch" in counts:
            self.stdout.write(
                f"バッチ #{counts['batch']}: 資格確認書 {issued}件、資格情報のお知らせ {counts.get('notices', 0)}件、"
                f"交付できなかったもの {counts.get('skipped', 0)}件"
            )
            for example in counts.get("skipped_examples", []):
                self.stdout.write(f"  {example}")
        if run.status == JobRun.Status.FAILED:
            self.stderr.write(run.error)
            sys.exit(1)
