import time

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.dateparse import parse_date

from members.demo import seed_demo
from members.models import Member


class Command(BaseCommand):
    help = (
        "デモ用の加入者台帳を作ります（世帯・年齢・マイナ保険証の状態・個人番号・変更履歴つき）。"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members", type=int, default=2000, help="作る人数（世帯単位で切り上げ）"
        )
        parser.add_argument("--date", help="基準日 YYYY-MM-DD（既定: 今日）")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--no-my-numbers", action="store_true", help="個人番号を作らない")
        parser.add_argument("--force", action="store_true", help="すでに加入者がいても追加する")

    def handle(self, *args, **options):
        existing = Member.objects.count()
        if existing and not options["force"]:
            self.stdout.write(f"加入者がすでに {existing:,} 人います。追加するときは --force。")
            return
        today = parse_date(options["date"]) if options["date"] else timezone.localdate()
        started = time.perf_counter()
        total = options["members"]

        def progress(written: int) -> None:
            elapsed = time.perf_counter() - started
            self.stdout.write(f"  {written:,} / {total:,} 人（{elapsed:.0f} 秒）")

        result = seed_demo(
            members=total,
            today=today,
            seed=options["seed"],
            batch_size=options["batch_size"],
            with_my_numbers=not options["no_my_numbers"],
            progress=progress,
        )
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"作成しました: 事業所 {result.offices:,}、加入者 {result.members:,}、"
                f"状態 {result.statuses:,}、個人番号 {result.my_numbers:,}（{elapsed:.1f} 秒、"
                f"{result.members / max(elapsed, 1e-9):,.0f} 人/秒）"
            )
        )
